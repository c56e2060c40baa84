"""ntptime as frozen into the ESP32 firmware: one SNTP query, then set the RTC."""
import socket
import struct
import time as _time

host = "pool.ntp.org"
timeout = 1
_NTP_DELTA = 3155673600  # 1900-01-01 to 2000-01-01


def time():
    query = bytearray(48)
    query[0] = 0x1B
    addr = socket.getaddrinfo(host, 123, 0, socket.SOCK_DGRAM)[0][-1]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.settimeout(timeout)
        s.sendto(query, addr)
        msg = s.recv(48)
    finally:
        s.close()
    return struct.unpack("!I", msg[40:44])[0] - _NTP_DELTA


def settime():
    import machine

    tm = _time.gmtime(time())
    machine.RTC().datetime((tm[0], tm[1], tm[2], tm[6] + 1, tm[3], tm[4], tm[5], 0))
