"""ROHM BH1750 ambient light sensor (the pole's dusk/dawn sensor), at command level."""

from __future__ import annotations

from typing import Callable

from host_tools.emulator.parts.base import I2CDevice


class BH1750(I2CDevice):
    """ROHM BH1750FVI: one-byte opcodes, 2-byte big-endian count, lux = count / 1.2 (MTreg
    69). A read before any measurement or while powered down returns 0 like the chip's
    reset value; one-time modes power the chip down after the measurement."""

    POWER_DOWN, POWER_ON, RESET = 0x00, 0x01, 0x07
    CONTINUOUS = (0x10, 0x11, 0x13)
    ONE_TIME = (0x20, 0x21, 0x23)

    def __init__(self, addr: int = 0x23, *, lux: float | Callable[[], float] = 5.0,
                 **kw: int) -> None:
        super().__init__(addr, **kw)
        self.lux = lux
        self.powered = False
        self.mode: int | None = None
        self.count = 0
        self.ops: list[int] = []

    def _lux(self) -> float:
        return self.lux() if callable(self.lux) else self.lux

    def i2c_write(self, data: bytes) -> None:
        for op in data:
            self.ops.append(op)
            if op == self.POWER_DOWN:
                self.powered = False
            elif op == self.POWER_ON:
                self.powered = True
            elif op == self.RESET:
                if self.powered:
                    self.count = 0
            elif op in self.CONTINUOUS + self.ONE_TIME and self.powered:
                self.mode = op
                self.count = max(0, min(65535, int(round(self._lux() * 1.2))))
                if op in self.ONE_TIME:
                    self.powered = False

    def i2c_read(self, n: int) -> bytes:
        if self.mode in self.CONTINUOUS and self.powered:
            self.count = max(0, min(65535, int(round(self._lux() * 1.2))))
        return bytes([(self.count >> 8) & 0xFF, self.count & 0xFF] * ((n + 1) // 2))[:n]
