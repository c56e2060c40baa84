"""Honeywell HMC5883L 3-axis magnetometer (I2C 0x1E).

Registers (Honeywell datasheet): 0x00 config A, 0x01 config B (gain GN[7:5]; default 001 =
1090 LSB/G), 0x02 mode (0 continuous, 1 single measurement, then idle), 0x03-0x08 data as
16-bit MSB first in the order X, Z, Y (not X, Y, Z), 0x09 status (bit 0 RDY), 0x0A-0x0C the
id "H43". A reading of -4096 means overflow.
"""
import time

ADDR = 0x1E
LSB_PER_UT = 10.9  # gain 1: 1090 LSB/G


def _s16(hi, lo):
    v = (hi << 8) | lo
    return v - 65536 if v & 0x8000 else v


class HMC5883L:
    name = "HMC5883L"
    has_wake_interrupt = False

    def __init__(self, i2c, addr=ADDR):
        self.i2c = i2c
        self.addr = addr
        self._buf = bytearray(6)
        self._one = bytearray(1)
        self._w(0x00, 0x70)  # 8 samples averaged, 15 Hz, normal bias
        self._w(0x01, 0x20)  # gain 1 (+-1.3 G)
        self._w(0x02, 0x03)  # idle until asked

    @staticmethod
    def probe(i2c, addr=ADDR):
        try:
            return i2c.readfrom_mem(addr, 0x0A, 3) == b"H43"
        except OSError:
            return False

    def _w(self, reg, v):
        self._one[0] = v
        self.i2c.writeto_mem(self.addr, reg, self._one)

    def read_ut(self, timeout_ms=50):
        self._w(0x02, 0x01)  # single measurement; the chip returns to idle by itself
        t0 = time.ticks_ms()
        while True:
            self.i2c.readfrom_mem_into(self.addr, 0x09, self._one)
            if self._one[0] & 0x01:
                break
            if time.ticks_diff(time.ticks_ms(), t0) > timeout_ms:
                raise OSError("HMC5883L: no data ready")
            time.sleep_ms(2)
        b = self._buf
        self.i2c.readfrom_mem_into(self.addr, 0x03, b)
        x, z, y = _s16(b[0], b[1]), _s16(b[2], b[3]), _s16(b[4], b[5])
        if -4096 in (x, y, z):
            raise OSError("HMC5883L: overflow")
        return x / LSB_PER_UT, y / LSB_PER_UT, z / LSB_PER_UT

    def temperature(self):
        return None  # no temperature sensor on this chip

    def sleep(self):
        self._w(0x02, 0x03)
