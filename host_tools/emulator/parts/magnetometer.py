"""What the parking sensor's three magnetometers share: the field at the chip and its noise.

`field_ut` is the field at the chip, (x, y, z) in microtesla, a tuple or a function of no
arguments (a test plays a trace through it). Each chip's model (qmc5883l.py, hmc5883l.py,
lis2mdl.py) keeps that chip's own registers and quirks.
"""

from __future__ import annotations

import random
from typing import Callable

from host_tools.emulator.parts.base import RegisterDevice

Field = tuple[float, float, float] | Callable[[], tuple[float, float, float]]


class Magnetometer(RegisterDevice):
    """A magnetometer's register map, its data converted from `field()`.

    noise_ut: the chip's own RMS noise per axis and conversion (0 when field_ut plays a
    trace, which carries its sensor's noise already)."""

    def __init__(self, addr: int, field_ut: Field = (20.0, 0.0, -40.0), *,
                 noise_ut: float = 0.0, seed: int = 0, **kw: int) -> None:
        super().__init__(addr, **kw)
        self.field_ut = field_ut
        self.noise_ut = noise_ut
        self._rng = random.Random(seed)
        self.samples = 0

    def field(self) -> tuple[float, float, float]:
        f = self.field_ut
        x, y, z = f() if callable(f) else f
        if self.noise_ut:
            g, n = self._rng.gauss, self.noise_ut
            return (x + g(0.0, n), y + g(0.0, n), z + g(0.0, n))
        return (x, y, z)
