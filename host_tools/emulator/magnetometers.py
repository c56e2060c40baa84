"""Magnetometer models at register level for the parking sensor: QMC5883L and HMC5883L.

`field_ut` is the field at the chip, (x, y, z) in microtesla, a tuple or a function of no
arguments (a test plays a trace through it). Each model keeps the chip's own quirks: the QMC
only measures in continuous mode and data are LSB first; the HMC measures once on request,
returns to idle, and sends its data MSB first in the order X, Z, Y.
"""

from __future__ import annotations

import struct
from typing import Callable

from .devices import RegisterDevice

Field = tuple[float, float, float] | Callable[[], tuple[float, float, float]]


class _Magnetometer(RegisterDevice):
    def __init__(self, addr: int, field_ut: Field = (20.0, 0.0, -40.0), **kw: int) -> None:
        super().__init__(addr, **kw)
        self.field_ut = field_ut
        self.samples = 0

    def field(self) -> tuple[float, float, float]:
        f = self.field_ut
        return f() if callable(f) else f


class QMC5883L(_Magnetometer):
    size = 0x0E

    def __init__(self, addr: int = 0x0D, *, field_ut: Field = (20.0, 0.0, -40.0),
                 temp_c: float = 15.0, **kw: int) -> None:
        super().__init__(addr, field_ut, **kw)
        self.temp_c = temp_c
        self.regs[0x0D] = 0xFF

    @property
    def continuous(self) -> bool:
        return self.regs[0x09] & 0x03 == 0x01

    def _lsb_per_ut(self) -> float:
        return 30.0 if self.regs[0x09] & 0x30 == 0x10 else 120.0

    def _sample(self) -> None:
        k = self._lsb_per_ut()
        raw = []
        ovl = False
        for v in self.field():
            n = int(round(v * k))
            if not -32768 <= n <= 32767:
                ovl = True
                n = max(-32768, min(32767, n))
            raw.append(n)
        self.regs[0:6] = struct.pack("<hhh", *raw)
        self.regs[0x07:0x09] = struct.pack("<h", int(round(self.temp_c * 100)))
        self.regs[0x06] = 0x01 | (0x02 if ovl else 0)
        self.samples += 1

    def write_reg(self, reg: int, value: int) -> None:
        if reg == 0x0A and value & 0x80:  # soft reset
            self.regs[0x09] = 0
            self.regs[0x06] = 0
            return
        self.regs[reg] = value
        if reg == 0x09 and self.continuous:
            self._sample()  # the first conversion completes before the app polls (200 Hz)

    def read_reg(self, reg: int) -> int:
        if reg == 0x06 and self.continuous and not self.regs[0x06] & 0x01:
            self._sample()  # continuous mode keeps converting
        v = self.regs[reg]
        if reg == 0x05:
            self.regs[0x06] &= ~0x01  # reading the data clears DRDY
        return v


class HMC5883L(_Magnetometer):
    size = 0x0D

    def __init__(self, addr: int = 0x1E, *, field_ut: Field = (20.0, 0.0, -40.0),
                 **kw: int) -> None:
        super().__init__(addr, field_ut, **kw)
        self.regs[0x00:0x03] = bytes([0x10, 0x20, 0x01])
        self.regs[0x0A:0x0D] = b"H43"

    def _lsb_per_ut(self) -> float:
        return {0: 13.7, 1: 10.9, 2: 8.2, 3: 6.6, 4: 4.4, 5: 3.9, 6: 3.3,
                7: 2.3}[self.regs[0x01] >> 5]

    def write_reg(self, reg: int, value: int) -> None:
        if reg >= 0x03:
            return  # data, status and id are read-only
        self.regs[reg] = value
        if reg == 0x02 and value & 0x03 == 0x01:
            k = self._lsb_per_ut()
            x, y, z = (int(round(v * k)) for v in self.field())
            vals = [v if -2048 <= v <= 2047 else -4096 for v in (x, z, y)]
            self.regs[0x03:0x09] = struct.pack(">hhh", *vals)
            self.regs[0x09] = 0x01
            self.regs[0x02] = 0x03  # back to idle after a single measurement
            self.samples += 1

    def read_reg(self, reg: int) -> int:
        v = self.regs[reg]
        if reg == 0x08:
            self.regs[0x09] &= ~0x01
        return v
