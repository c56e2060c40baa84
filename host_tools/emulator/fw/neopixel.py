"""neopixel as frozen into the official ESP32 firmware: a strip of WS2812 LEDs on one GPIO,
driven by machine.bitstream. Same API (NeoPixel(pin, n, bpp=3, timing=1), item get/set,
fill, write); written for the emulator, not copied."""
from machine import bitstream


class NeoPixel:
    ORDER = (1, 0, 2, 3)  # the wire order of a WS2812: G, R, B (, W)

    def __init__(self, pin, n, bpp=3, timing=1):
        self.pin = pin
        self.n = n
        self.bpp = bpp
        self.buf = bytearray(n * bpp)
        self.pin.init(pin.OUT)
        if timing == 1:  # 800 kHz
            self.timing = (400, 850, 800, 450)
        elif timing == 0:  # 400 kHz
            self.timing = (500, 2000, 1200, 1300)
        else:
            self.timing = timing

    def __len__(self):
        return self.n

    def __setitem__(self, i, v):
        off = i * self.bpp
        for k in range(self.bpp):
            self.buf[off + self.ORDER[k]] = v[k]

    def __getitem__(self, i):
        off = i * self.bpp
        return tuple(self.buf[off + self.ORDER[k]] for k in range(self.bpp))

    def fill(self, v):
        for i in range(self.n):
            self[i] = v

    def write(self):
        bitstream(self.pin, 0, self.timing, self.buf)
