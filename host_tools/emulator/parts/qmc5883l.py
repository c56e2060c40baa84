"""QST QMC5883L magnetometer (a parking sensor's chip): it only measures in continuous mode,
and its data are LSB first."""

from __future__ import annotations

import struct
from typing import Any

from host_tools.emulator.parts.magnetometer import Field, Magnetometer


class QMC5883L(Magnetometer):
    size = 0x0E

    def __init__(self, addr: int = 0x0D, *, field_ut: Field = (20.0, 0.0, -40.0),
                 temp_c: float = 15.0, **kw: Any) -> None:
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
