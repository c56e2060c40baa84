"""Per-bay guidance LEDs: a WS2812 strip on one GPIO, one LED above or beside each bay. The
caller gives the colour of each state (the totem: bays.FREE green, TAKEN red, DARK off).
Written only when a colour changes: a frame blocks the CPU ~30 µs per LED.
"""
import machine
import neopixel


class BayLeds:
    def __init__(self, pin, n, palette):
        """palette: {state: (r, g, b)}; a state not in it shows off."""
        self.np = neopixel.NeoPixel(machine.Pin(pin), n)
        self.colours = palette
        self.shown = None

    def show(self, states):
        """One state per LED, in strip order."""
        if states == self.shown:
            return
        for i, st in enumerate(states):
            self.np[i] = self.colours.get(st, (0, 0, 0))
        self.np.write()
        self.shown = list(states)
