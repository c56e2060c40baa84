"""ST LIS2MDL magnetometer (the parking sensor that sleeps): continuous low-power conversions
while the board sleeps, and a threshold interrupt that wakes it."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any

from host_tools.emulator.parts.magnetometer import Field, Magnetometer

if TYPE_CHECKING:
    from host_tools.emulator.board import Board


class LIS2MDL(Magnetometer):
    """ST LIS2MDL: continuous conversions at the ODR in low-power mode while the board sleeps,
    hard-iron offsets subtracted from the data, and the threshold interrupt on the INT pin.

    The interrupt (AN5069): with IEN set, each conversion compares the absolute value of each
    enabled axis (the offset-corrected data if CFG_REG_B INT_on_DataOFF, else the raw data)
    with INT_THS; INT_SOURCE records which axis and sign crossed. Latched (IEL), INT stays
    asserted until INT_SOURCE is read; otherwise it follows each conversion. The pin is
    push-pull: IEA high means active high. `int_gpio` is the ESP32 pin it is wired to."""

    size = 0x70
    UT_PER_LSB = 0.15
    ODR_HZ = (10.0, 20.0, 50.0, 100.0)

    def __init__(self, addr: int = 0x1E, *, field_ut: Field = (20.0, 0.0, -40.0),
                 temp_c: float = 15.0, int_gpio: int | None = None, **kw: Any) -> None:
        super().__init__(addr, field_ut, **kw)
        self.temp_c = temp_c
        self.int_gpio = int_gpio
        self.interrupts = 0  # times INT was asserted
        self._next = 0.0
        self._int_level = 0
        self._defaults()

    def _defaults(self) -> None:
        self.regs[:] = bytes(self.size)
        self.regs[0x4F] = 0x40
        self.regs[0x60] = 0x03  # idle
        self.regs[0x63] = 0xE0

    def attached(self, board: Board) -> None:  # type: ignore[override]
        super().attached(board)
        self._pin()

    @property
    def continuous(self) -> bool:
        return self.regs[0x60] & 0x03 == 0x00

    def _offsets(self) -> tuple[int, int, int]:
        return struct.unpack("<hhh", bytes(self.regs[0x45:0x4B]))

    def _sample(self) -> None:
        raw = [int(round(v / self.UT_PER_LSB)) for v in self.field()]
        off = self._offsets()
        out = [max(-32768, min(32767, r - o)) for r, o in zip(raw, off, strict=True)]
        self.regs[0x68:0x6E] = struct.pack("<hhh", *out)
        self.regs[0x6E:0x70] = struct.pack("<h", int(round((self.temp_c - 25.0) * 8)))
        self.regs[0x67] |= 0x08
        self.samples += 1
        self._check_interrupt(out if self.regs[0x61] & 0x08 else raw)

    def _check_interrupt(self, vals: list[int]) -> None:
        ctrl = self.regs[0x63]
        if not ctrl & 0x01:
            self._set_int(False)
            return
        ths = struct.unpack("<H", bytes(self.regs[0x65:0x67]))[0] & 0x7FFF
        src = 0
        for i, v in enumerate(vals):
            if ctrl & (0x80 >> i):
                if v > ths:
                    src |= 0x80 >> i
                elif v < -ths:
                    src |= 0x10 >> i
        latched = bool(ctrl & 0x02)
        if src:
            self.regs[0x64] = src | 0x01
            self._set_int(True)
        elif not latched:
            self.regs[0x64] = 0
            self._set_int(False)

    def _set_int(self, on: bool) -> None:
        if on and not self._int_level:
            self.interrupts += 1
        self._int_level = 1 if on else 0
        self._pin()

    def _pin(self) -> None:
        if self.board is None or self.int_gpio is None:
            return
        active = bool(self.regs[0x62] & 0x40) and bool(self._int_level)
        high = active if self.regs[0x63] & 0x04 else not active
        self.board._drive(self.int_gpio, 1 if high else 0)

    def tick(self, now: float) -> None:
        if not self.continuous:
            return
        if now >= self._next:
            odr = self.ODR_HZ[(self.regs[0x60] >> 2) & 0x03]
            self._next = now + 1.0 / odr
            self._sample()

    def write_reg(self, reg: int, value: int) -> None:
        if reg == 0x60 and value & 0x20:  # soft reset
            self._defaults()
            self._int_level = 0
            self._pin()
            return
        if reg in (0x4F, 0x64, 0x67) or 0x68 <= reg <= 0x6F:
            return  # read-only
        was = self.continuous
        self.regs[reg] = value
        if reg == 0x60:
            if value & 0x03 == 0x01:  # single conversion, then idle
                self._sample()
                self.regs[0x60] |= 0x03
            elif self.continuous and not was:
                self._next = 0.0  # the first conversion is ready one period later
                self.regs[0x67] &= ~0x08
        if reg in (0x62, 0x63):
            if reg == 0x63 and not value & 0x01:
                self._int_level = 0
            self._pin()

    def read_reg(self, reg: int) -> int:
        v = self.regs[reg]
        if reg == 0x64:  # reading INT_SOURCE clears a latched interrupt
            self.regs[0x64] = 0
            if self._int_level:
                self._int_level = 0
                self._pin()
        elif reg == 0x6D:
            self.regs[0x67] &= ~0x08  # the last data byte read clears Zyxda
        return v
