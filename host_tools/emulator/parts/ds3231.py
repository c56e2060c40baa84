"""Maxim DS3231 real-time clock (the pole's and the locker's time keeper), ticking with the
world's wall clock."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from host_tools.emulator.parts.base import RegisterDevice

if TYPE_CHECKING:
    from host_tools.emulator.world import World


def _bcd(v: int) -> int:
    return ((v // 10) << 4) | (v % 10)


def _unbcd(b: int) -> int:
    return (b >> 4) * 10 + (b & 0x0F)


class DS3231(RegisterDevice):
    """Maxim DS3231 at 0x68: BCD time registers 0x00-0x06 that tick with the world's wall
    clock from when they were set; status 0x0F bit 7 (OSF) set until the time is written."""

    size = 0x13

    def __init__(self, world: World, *, set_time: bool = True, addr: int = 0x68,
                 **kw: int) -> None:
        super().__init__(addr, **kw)
        self.world = world
        self.offset = 0.0  # chip time - world wall time
        self.regs[0x0E] = 0x1C
        self.regs[0x0F] = 0x00 if set_time else 0x80
        self.regs[0x11] = 21

    def _now(self) -> time.struct_time:
        return time.gmtime(self.world.wall_time() + self.offset)

    def read_reg(self, reg: int) -> int:
        if reg <= 0x06:
            t = self._now()
            y = t.tm_year - 2000
            return [_bcd(t.tm_sec), _bcd(t.tm_min), _bcd(t.tm_hour), t.tm_wday + 1,
                    _bcd(t.tm_mday), _bcd(t.tm_mon) | (0x80 if y >= 100 else 0),
                    _bcd(y % 100)][reg]
        return self.regs[reg]

    def write_reg(self, reg: int, value: int) -> None:
        if reg <= 0x06:
            t = list(self._now()[:6])
            idx = {0: 5, 1: 4, 2: 3, 4: 2, 5: 1, 6: 0}
            if reg == 3:
                return
            v = _unbcd(value & (0x1F if reg == 5 else 0x3F if reg == 2 else 0x7F if reg == 0
                                else 0xFF))
            if reg == 6:
                v += 2000
            t[idx[reg]] = v
            import calendar

            self.offset = calendar.timegm(tuple(t) + (0, 0, 0)) - self.world.wall_time()
            return
        if reg == 0x0F:
            value &= self.regs[0x0F] | 0x7F  # OSF can only be cleared by a write
        self.regs[reg] = value
