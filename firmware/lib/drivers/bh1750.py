"""ROHM BH1750FVI ambient light sensor: command-based I2C (no registers), 16-bit count.

Why one-time mode: the pole reads light every few seconds at most; one-time high-resolution
mode powers the chip down between readings. Datasheet: opcodes 0x01 power on, 0x07 reset,
0x20 one-time H-resolution (1 lx, max 180 ms); lux = count / 1.2 at the default MTreg (69).
Address 0x23 with ADDR low, 0x5C with ADDR high.
"""
import time

POWER_ON = 0x01
RESET = 0x07
ONE_TIME_H = 0x20
ADDRESSES = (0x23, 0x5C)
MEASURE_MS = 180


class BH1750:
    def __init__(self, i2c, addr=0x23):
        self.i2c = i2c
        self.addr = addr
        self._cmd = bytearray(1)
        self._buf = bytearray(2)

    def _send(self, op):
        self._cmd[0] = op
        self.i2c.writeto(self.addr, self._cmd)

    def present(self):
        try:
            self._send(POWER_ON)
            return True
        except OSError:
            return False

    def start(self):
        """Start a one-time measurement; read it MEASURE_MS later with result()."""
        self._send(POWER_ON)
        self._send(ONE_TIME_H)

    def result(self):
        self.i2c.readfrom_into(self.addr, self._buf)
        return ((self._buf[0] << 8) | self._buf[1]) / 1.2

    def lux(self):
        """Blocking read (180 ms); the app uses start()/result() from a task instead."""
        self.start()
        time.sleep_ms(MEASURE_MS)
        return self.result()
