"""What every part is: `Device`, the hooks a board calls, and the two I2C shapes most chips
take (`I2CDevice`: one address on one bus; `RegisterDevice`: a register map behind an
auto-incrementing pointer). A new chip starts from one of these."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from host_tools.emulator.board import Board


class Device:
    """A part on a board's pins or buses. The board calls the hooks below from the world's
    loop; a part that drives an input calls `self.board.drive(gpio, level)` (any thread)."""

    i2c_addr: int | None = None

    def __init__(self) -> None:
        self.board: Board | None = None

    def attached(self, board: Board) -> None:
        self.board = board

    def now(self) -> float:
        """Monotonic seconds on the world's clock (virtual time, clock.py) once attached."""
        if self.board is None:
            return time.monotonic()
        return self.board.world.clock.now()

    def on_pin(self, gpio: int, level: int) -> None:
        pass

    def on_pwm(self, gpio: int, freq: int, duty_u16: int | None) -> None:
        pass

    def reads_watched(self) -> list[int]:
        """Input pins whose every read the board reports (on_read): for a part that must
        know what the firmware saw, not only what it drove. Each read costs a message. The
        board asks at each boot: attach such a part before the board starts."""
        return []

    def on_read(self, gpio: int, level: int) -> None:
        """The firmware read a watched pin and saw this level."""

    def on_bitstream(self, gpio: int, timing: tuple[int, ...], data: bytes) -> None:
        """machine.bitstream on gpio: (high_0, low_0, high_1, low_1) ns, the bytes."""

    def on_reset(self) -> None:
        """The board's MCU went into reset or lost power: its outputs float."""

    def tick(self, now: float) -> None:
        """Called about every 20 ms while the board has power (awake or in deep sleep), for
        devices that work on their own: a magnetometer converting in continuous mode."""

    def analog(self, gpio: int) -> float | None:
        return None

    def on_i2c_bus(self, sda: int, scl: int) -> bool:
        return False

    def i2c_write(self, data: bytes) -> None:
        pass

    def i2c_read(self, n: int) -> bytes:
        return b"\xff" * n


class I2CDevice(Device):
    """A device on the I2C bus formed by two GPIOs, answering at one 7-bit address."""

    def __init__(self, addr: int, *, sda: int = 21, scl: int = 22) -> None:
        super().__init__()
        self.i2c_addr = addr
        self.sda = sda
        self.scl = scl

    def on_i2c_bus(self, sda: int, scl: int) -> bool:
        return sda == self.sda and scl == self.scl


class RegisterDevice(I2CDevice):
    """A register map with an auto-incrementing pointer: the first byte of a write sets the
    pointer, the rest are stored from there; a read returns bytes from the pointer on."""

    size = 256

    def __init__(self, addr: int, **kw: int) -> None:
        super().__init__(addr, **kw)
        self.regs = bytearray(self.size)
        self.ptr = 0
        self.writes: list[tuple[int, bytes]] = []

    def i2c_write(self, data: bytes) -> None:
        if not data:
            return
        self.ptr = data[0] % self.size
        payload = data[1:]
        if payload:
            self.writes.append((self.ptr, bytes(payload)))
        for b in payload:
            self.write_reg(self.ptr, b)
            self.ptr = (self.ptr + 1) % self.size

    def i2c_read(self, n: int) -> bytes:
        out = bytearray()
        for _ in range(n):
            out.append(self.read_reg(self.ptr))
            self.ptr = (self.ptr + 1) % self.size
        return bytes(out)

    def write_reg(self, reg: int, value: int) -> None:
        self.regs[reg] = value

    def read_reg(self, reg: int) -> int:
        return self.regs[reg]
