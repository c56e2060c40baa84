"""Honeywell HMC5883L magnetometer (a parking sensor's chip): it measures once on request,
returns to idle, and sends its data MSB first in the order X, Z, Y."""

from __future__ import annotations

import struct
from typing import Any

from host_tools.emulator.parts.magnetometer import Field, Magnetometer


class HMC5883L(Magnetometer):
    size = 0x0D

    def __init__(self, addr: int = 0x1E, *, field_ut: Field = (20.0, 0.0, -40.0),
                 **kw: Any) -> None:
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
