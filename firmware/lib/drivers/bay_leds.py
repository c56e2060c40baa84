"""Per-bay guidance LEDs: a WS2812 strip on one GPIO, one LED above or beside each bay.
Green = free, red = taken, dark = unknown (the totem does not promise a bay it cannot vouch
for). Written only when a colour changes: a frame blocks the CPU ~30 µs per LED.
"""
import machine
import neopixel

DARK = 0
FREE = 1
TAKEN = 2


class BayLeds:
    def __init__(self, pin, n, brightness=48):
        self.np = neopixel.NeoPixel(machine.Pin(pin), n)
        b = brightness
        self.colours = {DARK: (0, 0, 0), FREE: (0, b, 0), TAKEN: (b, 0, 0)}
        self.shown = None

    def show(self, states):
        """states: DARK / FREE / TAKEN per LED, in strip order."""
        if states == self.shown:
            return
        for i, st in enumerate(states):
            self.np[i] = self.colours.get(st, (0, 0, 0))
        self.np.write()
        self.shown = list(states)
