"""TI TMP102 temperature sensor (the field-test board's and the locker's fridge sensor)."""

from __future__ import annotations

import struct

from host_tools.emulator.parts.base import I2CDevice


class TMP102(I2CDevice):
    """TI TMP102 temperature sensor: 16-bit registers behind a pointer byte; temperature in
    register 0 as a 12-bit two's complement value in the top bits, 0.0625 °C per LSB."""

    def __init__(self, addr: int = 0x48, *, celsius: float = 21.0, **kw: int) -> None:
        super().__init__(addr, **kw)
        self.celsius = celsius
        self.ptr = 0
        self.config = 0x60A0
        self.t_low = 75 << 8
        self.t_high = 80 << 8

    def _reg16(self, ptr: int) -> int:
        if ptr == 0:
            raw = int(round(self.celsius / 0.0625)) & 0xFFF
            return raw << 4
        return {1: self.config, 2: self.t_low, 3: self.t_high}.get(ptr, 0)

    def i2c_write(self, data: bytes) -> None:
        if not data:
            return
        self.ptr = data[0] & 0x03
        if len(data) >= 3:
            val = struct.unpack(">H", data[1:3])[0]
            if self.ptr == 1:
                self.config = val
            elif self.ptr == 2:
                self.t_low = val
            elif self.ptr == 3:
                self.t_high = val

    def i2c_read(self, n: int) -> bytes:
        return (struct.pack(">H", self._reg16(self.ptr)) * ((n + 1) // 2))[:n]
