"""ST LIS2MDL 3-axis magnetometer (I2C 0x1E, WHO_AM_I 0x4F = 0x40), with its threshold
interrupt as a wake source.

Registers (ST datasheet DocID030545 and AN5069): 0x45-0x4A hard-iron OFFSET_X/Y/Z (16-bit
two's complement LSB first, same scale as the data, subtracted from the output); 0x60
CFG_REG_A (COMP_TEMP_EN 7, SOFT_RST 5, LP 4, ODR[3:2] 10/20/50/100 Hz, MD[1:0] 0 continuous /
1 single / 3 idle); 0x61 CFG_REG_B (INT_on_DataOFF 3: the interrupt checks the offset-corrected
data, OFF_CANC 1, LPF 0); 0x62 CFG_REG_C (INT_on_PIN 6, BDU 4); 0x63 INT_CTRL_REG (XIEN 7,
YIEN 6, ZIEN 5, IEA 2 active high, IEL 1 latched, IEN 0); 0x64 INT_SOURCE_REG (reading it
clears a latched interrupt); 0x65-0x66 INT_THS (unsigned, same scale, compared with the
absolute value of each axis); 0x67 STATUS (Zyxda bit 3); 0x68-0x6D OUTX/Y/Z LSB first;
0x6E-0x6F TEMP_OUT (8 LSB/degC). Sensitivity 1.5 mG/LSB = 0.15 uT/LSB.

Why it is the wake-on-change chip: armed with the offset at the field last seen settled and a
threshold, it watches at 10 Hz in low-power mode (AN5069: under 50 uA at 20 Hz) and raises
INT when any axis moves beyond the threshold, while the ESP32 stays in deep sleep. The driver
hands back the field as the chip measures it (offset added back), so the detector never sees
the offset.
"""
import time

ADDR = 0x1E
CHIP_ID = 0x40
UT_PER_LSB = 0.15

_OFFSET = 0x45
_WHO_AM_I = 0x4F
_CFG_A = 0x60
_CFG_B = 0x61
_CFG_C = 0x62
_INT_CTRL = 0x63
_INT_SRC = 0x64
_INT_THS = 0x65
_STATUS = 0x67
_OUT = 0x68
_TEMP = 0x6E

_A_RUN = 0x90  # temperature compensation, low-power, 10 Hz, continuous
_A_IDLE = 0x93
_B = 0x0B  # interrupt on offset-corrected data, offset cancellation, low-pass filter
_C = 0x10  # block data update
_C_INT = 0x50  # ... and INT routed to the pin
_INT_ON = 0xE7  # X, Y, Z enabled, active high, latched, enabled
_INT_OFF = 0xE0


def _s16(lo, hi):
    v = lo | (hi << 8)
    return v - 65536 if v & 0x8000 else v


def _lsb(ut):
    n = int(round(ut / UT_PER_LSB))
    return -32768 if n < -32768 else (32767 if n > 32767 else n)


class LIS2MDL:
    name = "LIS2MDL"
    has_wake_interrupt = True

    def __init__(self, i2c, addr=ADDR):
        """Keeps the chip's offsets and interrupt setup: after a deep sleep the chip is still
        armed and its data are relative to the offsets the node programmed."""
        self.i2c = i2c
        self.addr = addr
        self._buf = bytearray(6)
        self._one = bytearray(1)
        self._t = bytearray(2)
        self.i2c.readfrom_mem_into(addr, _OFFSET, self._buf)
        b = self._buf
        self.offset = [_s16(b[0], b[1]), _s16(b[2], b[3]), _s16(b[4], b[5])]
        self._w(_CFG_B, _B)
        self.i2c.readfrom_mem_into(addr, _CFG_A, self._one)
        if self._one[0] != _A_RUN:
            self._w(_CFG_C, _C)
            self._w(_CFG_A, _A_RUN)

    @staticmethod
    def probe(i2c, addr=ADDR):
        try:
            return i2c.readfrom_mem(addr, _WHO_AM_I, 1)[0] == CHIP_ID
        except OSError:
            return False

    def _w(self, reg, v):
        self._one[0] = v
        self.i2c.writeto_mem(self.addr, reg, self._one)

    def read_ut(self, timeout_ms=250):
        """The latest conversion (X, Y, Z) in uT; waits for the first one after a start."""
        t0 = time.ticks_ms()
        while True:
            self.i2c.readfrom_mem_into(self.addr, _STATUS, self._one)
            if self._one[0] & 0x08:
                break
            if time.ticks_diff(time.ticks_ms(), t0) > timeout_ms:
                raise OSError("LIS2MDL: no data ready")
            time.sleep_ms(5)
        b = self._buf
        self.i2c.readfrom_mem_into(self.addr, _OUT, b)
        self.i2c.readfrom_mem_into(self.addr, _TEMP, self._t)
        o = self.offset
        return ((_s16(b[0], b[1]) + o[0]) * UT_PER_LSB, (_s16(b[2], b[3]) + o[1]) * UT_PER_LSB,
                (_s16(b[4], b[5]) + o[2]) * UT_PER_LSB)

    def temperature(self):
        """Die temperature from the last read (8 LSB/degC around 25 degC)."""
        return 25.0 + _s16(self._t[0], self._t[1]) / 8

    def arm(self, ref_ut, threshold_ut):
        """Raise INT (latched, active high) when some axis leaves ref_ut by more than
        threshold_ut. The chip keeps converting at 10 Hz; the caller sleeps."""
        self._w(_INT_CTRL, _INT_OFF)
        o = [_lsb(v) for v in ref_ut]
        b = self._buf
        for i in range(3):
            v = o[i] & 0xFFFF
            b[2 * i] = v & 0xFF
            b[2 * i + 1] = v >> 8
        self.i2c.writeto_mem(self.addr, _OFFSET, b)
        self.offset = o
        ths = _lsb(threshold_ut)
        self.i2c.writeto_mem(self.addr, _INT_THS, bytes((ths & 0xFF, (ths >> 8) & 0x7F)))
        self._w(_CFG_C, _C_INT)
        self.int_source()  # a latch from before the new offsets must not wake us
        self._w(_INT_CTRL, _INT_ON)

    def disarm(self):
        self._w(_INT_CTRL, _INT_OFF)
        self._w(_CFG_C, _C)
        return self.int_source()

    def int_source(self):
        """INT_SOURCE_REG (which axis and sign crossed); reading it clears the latch."""
        self.i2c.readfrom_mem_into(self.addr, _INT_SRC, self._one)
        return self._one[0]

    def sleep(self):
        """Idle (about 2 uA): for a node that does not use the wake interrupt."""
        self._w(_INT_CTRL, _INT_OFF)
        self._w(_CFG_A, _A_IDLE)
