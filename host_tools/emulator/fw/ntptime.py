"""ntptime as frozen into the ESP32 firmware (micropython-lib's): one SNTP query, the
transmit timestamp read as the port's epoch, with the library's Y2036 rule (a timestamp
before 2024 is taken as past the 2036 wrap), then settime() sets the RTC."""
import socket
import struct
import time as _time

host = "pool.ntp.org"
timeout = 1
_MIN_NTP_TIMESTAMP = 3913056000  # 2024-01-01 as an NTP timestamp


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
    val = struct.unpack("!I", msg[40:44])[0]
    if val < _MIN_NTP_TIMESTAMP:
        val += 0x100000000
    if _time.gmtime(0)[0] == 2000:
        delta = 3155673600  # 1900-01-01 to 2000-01-01
    else:
        delta = 2208988800  # to 1970-01-01
    return val - delta


def settime():
    import machine

    tm = _time.gmtime(time())
    machine.RTC().datetime((tm[0], tm[1], tm[2], tm[6] + 1, tm[3], tm[4], tm[5], 0))
