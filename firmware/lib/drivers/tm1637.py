"""Titan Micro TM1637 4-digit 7-segment display, bit-banged on two GPIOs (CLK, DIO).

Protocol (TM1637 datasheet v2.4): start = DIO falls while CLK is high; bytes LSB first, DIO
set while CLK is low and read by the chip on CLK's rising edge; a 9th clock for the chip's
ACK; stop = DIO rises while CLK is high. Commands: 0x40 write with auto-increment, 0xC0 +
address then the segment bytes, 0x88 | brightness (0-7) display on.
"""
import time

DIGITS = (0x3F, 0x06, 0x5B, 0x4F, 0x66, 0x6D, 0x7D, 0x07, 0x7F, 0x6F)
DASH = 0x40


class TM1637:
    def __init__(self, clk, dio, brightness=4):
        import machine

        self.clk = machine.Pin(clk, machine.Pin.OUT, value=1)
        self.dio = machine.Pin(dio, machine.Pin.OPEN_DRAIN, value=1)
        self.brightness = brightness & 7

    def _d(self):
        time.sleep_us(5)

    def _start(self):
        self.dio(0)
        self._d()
        self.clk(0)

    def _stop(self):
        self.dio(0)
        self.clk(1)
        self._d()
        self.dio(1)

    def _byte(self, b):
        for i in range(8):
            self.dio((b >> i) & 1)
            self._d()
            self.clk(1)
            self._d()
            self.clk(0)
        self.dio(1)  # release for the chip's ACK
        self.clk(1)
        self._d()
        self.clk(0)

    def segments(self, segs):
        self._start()
        self._byte(0x40)
        self._stop()
        self._start()
        self._byte(0xC0)
        for s in segs:
            self._byte(s)
        self._stop()
        self._start()
        self._byte(0x88 | self.brightness)
        self._stop()

    def number(self, n):
        """Right-aligned 0..9999; None shows "----" (count unknown)."""
        if n is None:
            self.segments((DASH, DASH, DASH, DASH))
            return
        n = max(0, min(9999, int(n)))
        s = str(n)
        segs = [0] * (4 - len(s)) + [DIGITS[ord(c) - 48] for c in s]
        self.segments(segs)
