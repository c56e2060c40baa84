"""QST QMC5883L 3-axis magnetometer (I2C 0x0D).

Registers (QST datasheet 1.0): 0x00-0x05 X, Y, Z as 16-bit LSB first; 0x06 status (bit 0
DRDY, bit 1 OVL, bit 2 DOR); 0x07-0x08 temperature (relative, 100 LSB/degC); 0x09 control 1
(OSR[7:6], RNG[5:4] 0 = 2 G / 1 = 8 G, ODR[3:2] 10/50/100/200 Hz, MODE[1:0] 0 standby /
1 continuous); 0x0A control 2 (bit 7 soft reset); 0x0B SET/RESET period (0x01 recommended);
0x0D chip id 0xFF. At 2 G: 12000 LSB/G = 120 LSB/uT.

Why a single-shot emulation: the chip has no single-measurement mode, so a battery node puts
it in continuous mode, waits for DRDY, reads, and puts it back to standby.
"""
import time

ADDR = 0x0D
CHIP_ID = 0xFF
_CTRL1_CONT = 0x1D  # OSR 512 (00), RNG 8 G (01), ODR 200 Hz (11), continuous (01)
_CTRL1_STBY = 0x1C
LSB_PER_UT = 30.0  # 8 G range: 3000 LSB/G


def _s16(lo, hi):
    v = lo | (hi << 8)
    return v - 65536 if v & 0x8000 else v


class QMC5883L:
    name = "QMC5883L"
    has_wake_interrupt = False

    def __init__(self, i2c, addr=ADDR):
        self.i2c = i2c
        self.addr = addr
        self._buf = bytearray(6)
        self._one = bytearray(1)
        self._t = bytearray(2)
        self._w(0x0A, 0x80)  # soft reset
        self._w(0x0B, 0x01)  # SET/RESET period, as the datasheet asks
        self._w(0x09, _CTRL1_STBY)

    @staticmethod
    def probe(i2c, addr=ADDR):
        try:
            return i2c.readfrom_mem(addr, 0x0D, 1)[0] == CHIP_ID
        except OSError:
            return False

    def _w(self, reg, v):
        self._one[0] = v
        self.i2c.writeto_mem(self.addr, reg, self._one)

    def _status(self):
        self.i2c.readfrom_mem_into(self.addr, 0x06, self._one)
        return self._one[0]

    def read_ut(self, timeout_ms=50):
        """One measurement (X, Y, Z) in uT; OSError if the chip does not answer or
        overflows (OVL: a field beyond the 8 G range)."""
        self._w(0x09, _CTRL1_CONT)
        t0 = time.ticks_ms()
        while not self._status() & 0x01:
            if time.ticks_diff(time.ticks_ms(), t0) > timeout_ms:
                self._w(0x09, _CTRL1_STBY)
                raise OSError("QMC5883L: no data ready")
            time.sleep_ms(2)
        st = self._one[0]
        b = self._buf
        self.i2c.readfrom_mem_into(self.addr, 0x00, b)
        self.i2c.readfrom_mem_into(self.addr, 0x07, self._t)
        self._w(0x09, _CTRL1_STBY)
        if st & 0x02:
            raise OSError("QMC5883L: overflow")
        return (_s16(b[0], b[1]) / LSB_PER_UT, _s16(b[2], b[3]) / LSB_PER_UT,
                _s16(b[4], b[5]) / LSB_PER_UT)

    def temperature(self):
        """Relative die temperature (degC + an unknown per-chip offset) from the last read;
        good for drift compensation, not as a thermometer."""
        return _s16(self._t[0], self._t[1]) / 100

    def sleep(self):
        self._w(0x09, _CTRL1_STBY)
