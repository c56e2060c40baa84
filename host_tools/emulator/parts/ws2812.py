"""WS2812B LED strip (the parking totem's bay guidance LEDs), fed by machine.bitstream."""

from __future__ import annotations

from host_tools.emulator.parts.base import Device


class WS2812(Device):
    """A strip of n WS2812B LEDs on one GPIO. Each LED takes the first 24 bits (G, R, B, MSB
    first) that reach it and passes the rest on, so a frame always starts at LED 0. Bit
    times outside the datasheet's windows (T0H 0.4 µs, T1H 0.8 µs, T0L 0.85 µs, T1L 0.45 µs,
    each ±150 ns) are read as noise: the strip keeps what it showed and counts an error.
    `rgb` is what each LED shows; `names()` says it in words."""

    TOL_NS = 150
    SPEC_NS = (400, 850, 800, 450)

    def __init__(self, gpio: int, n: int) -> None:
        super().__init__()
        self.gpio, self.n = gpio, n
        self.rgb: list[tuple[int, int, int]] = [(0, 0, 0)] * n
        self.frames = 0
        self.errors = 0

    def on_bitstream(self, gpio: int, timing: tuple[int, ...], data: bytes) -> None:
        if gpio != self.gpio:
            return
        if len(timing) != 4 or any(abs(t - s) > self.TOL_NS
                                   for t, s in zip(timing, self.SPEC_NS, strict=True)):
            self.errors += 1
            return
        rgb = list(self.rgb)
        for i in range(min(self.n, len(data) // 3)):
            g, r, b = data[3 * i:3 * i + 3]
            rgb[i] = (r, g, b)
        self.rgb = rgb
        self.frames += 1

    def on_reset(self) -> None:
        """The LEDs keep their colour while their supply stays up; only a power cut of the
        strip clears them, which the totem's board power does not model."""

    @staticmethod
    def name(rgb: tuple[int, int, int]) -> str:
        r, g, b = rgb
        if max(rgb) == 0:
            return "off"
        if g > 2 * max(r, b):
            return "green"
        if r > 2 * max(g, b):
            return "red"
        if r and g and b < min(r, g) / 2:
            return "amber"
        return "other"

    def names(self) -> list[str]:
        return [self.name(c) for c in self.rgb]
