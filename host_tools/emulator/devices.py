"""Device models at the pin and register level, so the boards' real drivers run against them.

A device is attached to one board (`board.attach(Switch(4))`). The board calls `on_pin` and
`on_pwm` when the firmware changes an output, `analog` when it samples the ADC, and
`i2c_write`/`i2c_read` for bus transfers to the device's address. Devices drive inputs with
`self.board.drive(gpio, level)`.
"""

from __future__ import annotations

import struct
import time
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from .board import Board


class Device:
    i2c_addr: int | None = None

    def __init__(self) -> None:
        self.board: Board | None = None

    def attached(self, board: Board) -> None:
        self.board = board

    def on_pin(self, gpio: int, level: int) -> None:
        pass

    def on_pwm(self, gpio: int, freq: int, duty_u16: int | None) -> None:
        pass

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


class Switch(Device):
    """A contact between a GPIO and ground (active_low) or 3V3: a button, a door switch, a
    PIR's open-collector output."""

    def __init__(self, gpio: int, *, active_low: bool = True, closed: bool = False) -> None:
        super().__init__()
        self.gpio = gpio
        self.active_low = active_low
        self.closed = closed

    def attached(self, board: Board) -> None:
        super().attached(board)
        self._apply()

    def _apply(self) -> None:
        assert self.board is not None
        if self.closed:
            self.board.drive(self.gpio, 0 if self.active_low else 1)
        else:
            # Open contact: the pin floats and its pull resistor decides the level.
            self.board.drive(self.gpio, None)

    def set(self, closed: bool) -> None:
        self.closed = closed
        self._apply()

    def press(self) -> None:
        self.set(True)

    def release(self) -> None:
        self.set(False)


class Led(Device):
    """An LED on an output pin; records every change with its time."""

    def __init__(self, gpio: int, *, active_low: bool = False) -> None:
        super().__init__()
        self.gpio = gpio
        self.active_low = active_low
        self.changes: list[int] = []

    @property
    def lit(self) -> bool:
        assert self.board is not None
        out = self.board.outputs.get(self.gpio)
        if out is None:
            return False
        return bool(out["v"]) != self.active_low

    def on_pin(self, gpio: int, level: int) -> None:
        if gpio == self.gpio:
            self.changes.append(level)


class Luminaire(Device):
    """An LED luminaire dimmed by PWM (directly or through a 0-10 V interface).

    `invert` models a driver input that dims as the duty rises (an open-collector 0-10 V
    stage pulls the line down). Power follows light with a driver's standby and efficiency."""

    def __init__(self, gpio: int, *, watts: float = 40.0, lumens: float = 5000.0,
                 invert: bool = False, standby_w: float = 0.5, min_level: float = 0.0,
                 on_change: Callable[[float], None] | None = None) -> None:
        super().__init__()
        self.gpio = gpio
        self.rated_w = watts
        self.rated_lm = lumens
        self.invert = invert
        self.standby_w = standby_w
        self.min_level = min_level
        self.on_change = on_change
        self.level = 1.0 if invert else 0.0
        self.history: list[float] = []
        self.timeline: list[tuple[float, float]] = []  # (time.monotonic(), level)

    def on_pwm(self, gpio: int, freq: int, duty_u16: int | None) -> None:
        if gpio != self.gpio:
            return
        if duty_u16 is None:
            self.on_reset()
            return
        d = duty_u16 / 65535.0
        self._set(1.0 - d if self.invert else d)

    def _set(self, level: float) -> None:
        if 0 < level < self.min_level:
            level = self.min_level
        self.level = level
        self.history.append(level)
        self.timeline.append((time.monotonic(), level))
        if self.on_change:
            self.on_change(level)

    def on_pin(self, gpio: int, level: int) -> None:
        if gpio == self.gpio:
            self.on_pwm(gpio, 0, 65535 if level else 0)

    def on_reset(self) -> None:
        # Floating input: a 0-10 V interface's own pull-up means full light (invert), a
        # direct PWM input with a pull-down means off.
        self._set(1.0 if self.invert else 0.0)

    @property
    def watts(self) -> float:
        return self.standby_w + self.rated_w * self.level

    @property
    def lumens(self) -> float:
        return self.rated_lm * self.level


class AnalogSource(Device):
    """A voltage on an ADC pin: a constant or a function of time."""

    def __init__(self, gpio: int, volts: float | Callable[[], float] = 0.0) -> None:
        super().__init__()
        self.gpio = gpio
        self.volts = volts

    def analog(self, gpio: int) -> float | None:
        if gpio != self.gpio:
            return None
        return self.volts() if callable(self.volts) else self.volts


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


class TM1637(Device):
    """A TM1637 4-digit display on two GPIOs, decoded from the pin changes: start/stop
    conditions, bytes LSB first sampled on CLK's rising edge, 0x40/0xC0+addr/0x88 commands.
    `text` is what a passer-by reads ("  12", "----")."""

    SEGS = {0x3F: "0", 0x06: "1", 0x5B: "2", 0x4F: "3", 0x66: "4", 0x6D: "5", 0x7D: "6",
            0x07: "7", 0x7F: "8", 0x6F: "9", 0x40: "-", 0x00: " "}

    def __init__(self, clk: int, dio: int) -> None:
        super().__init__()
        self.clk_pin, self.dio_pin = clk, dio
        self.clk, self.dio = 1, 1
        self.ram = bytearray(6)
        self.on = False
        self.updates = 0
        self._bits: list[int] = []
        self._bytes: list[int] = []
        self._active = False

    def on_pin(self, gpio: int, level: int) -> None:
        if gpio == self.dio_pin:
            if self.clk and self.dio and not level:
                self._active, self._bits, self._bytes = True, [], []  # start
            elif self.clk and not self.dio and level and self._active:
                self._active = False  # stop
                self._command(self._bytes)
            self.dio = level
        elif gpio == self.clk_pin:
            if level and not self.clk and self._active:
                self._bits.append(self.dio)
                if len(self._bits) == 9:  # 8 data bits + the ACK clock
                    self._bytes.append(sum(b << i for i, b in enumerate(self._bits[:8])))
                    self._bits = []
            self.clk = level

    def _command(self, data: list[int]) -> None:
        if not data:
            return
        cmd = data[0]
        if cmd & 0xC0 == 0xC0:
            addr = cmd & 0x07
            for i, b in enumerate(data[1:]):
                if addr + i < len(self.ram):
                    self.ram[addr + i] = b
            self.updates += 1
        elif cmd & 0xF0 == 0x80:
            self.on = bool(cmd & 0x08)

    @property
    def text(self) -> str:
        return "".join(self.SEGS.get(b & 0x7F, "?") for b in self.ram[:4])


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


class Keypad(Device):
    """A matrix keypad: a pressed key connects its row to its column. Columns have the
    board's pull-ups; a column reads low while a pressed key's row is driven low."""

    def __init__(self, rows: list[int], cols: list[int],
                 layout: tuple[str, ...] = ("123", "456", "789", "*0#")) -> None:
        super().__init__()
        self.rows, self.cols, self.layout = rows, cols, layout
        self.row_level: dict[int, int] = {r: 1 for r in rows}
        self.down: set[str] = set()
        self.seen: dict[str, int] = {}  # full scans that have read a key while held
        self.looked: dict[int, int] = {}  # times this row alone was driven low, per row
        self._alone: int | None = None  # the row a scan step has driven low, if any
        self._scanned: set[int] = set()  # rows stepped through in the scan under way

    def attached(self, board: Board) -> None:
        super().attached(board)
        self._update()

    def _where(self, key: str) -> tuple[int, int]:
        for i, line in enumerate(self.layout):
            if key in line:
                return self.rows[i], self.cols[line.index(key)]
        raise ValueError(f"no key {key!r} on this keypad")

    def _update(self, in_loop: bool = False) -> None:
        assert self.board is not None
        for c in self.cols:
            low = any(self.row_level.get(r, 1) == 0 for k in self.down
                      for r, cc in [self._where(k)] if cc == c)
            if in_loop:  # called by the world's loop (a row changed): drive directly
                self.board._drive(c, 0 if low else None)
            else:
                self.board.drive(c, 0 if low else None)

    def on_pin(self, gpio: int, level: int) -> None:
        if gpio in self.row_level:
            self.row_level[gpio] = level
            if self.down:
                self._update(in_loop=True)
            # a scan step: this row alone driven low, its columns read, the row back high
            if level == 0:
                alone = all(v == 1 for r, v in self.row_level.items() if r != gpio)
                self._alone = gpio if alone else None
                if alone:  # the firmware looks at this row's keys (a scan, or one key's check)
                    self.looked[gpio] = self.looked.get(gpio, 0) + 1
            elif gpio == self._alone:
                self._alone = None
                self._scanned.add(gpio)
                if gpio == self.rows[-1]:  # the last row: a full scan is over
                    for k in self.down:
                        if self._where(k)[0] in self._scanned:
                            self.seen[k] = self.seen.get(k, 0) + 1
                    self._scanned.clear()

    def on_reset(self) -> None:
        for r in self.rows:
            self.row_level[r] = 1  # outputs float while the MCU is reset

    def press(self, key: str) -> None:
        self.seen[key] = 0
        self.down.add(key)
        self._update()

    def release(self, key: str) -> None:
        self.down.discard(key)
        self._update()

    def type(self, keys: str, hold_s: float = 0.08, gap_s: float = 0.08, scans: int = 2,
             wait_s: float = 1.0, rollover_s: float = 0.0) -> None:
        """Type like a person: each key held hold_s, then released for gap_s.

        Like a person who feels a key take, each key is held longer, up to wait_s, until the
        firmware has read it in `scans` full scans; after a release, the next key waits until
        the firmware has looked at the released key's row 3 times (its "key up" check).
        Without this an emulated board on a loaded host, later to scan than a real one, loses
        keys: released before any scan, or pressed again before the release was seen.
        scans=0 never waits. rollover_s > 0 types like a fast typist: the next key goes down
        rollover_s before the last one comes up (not for a key typed twice in a row)."""
        import time as _t

        def wait(done: Callable[[], bool], at_least: float) -> None:
            t0 = _t.monotonic()
            _t.sleep(at_least)
            while scans and not done() and _t.monotonic() - t0 < wait_s:
                _t.sleep(0.005)

        def down(k: str) -> None:  # held until read in `scans` full scans
            wait(lambda: self.seen.get(k, 0) >= scans, hold_s)

        def up(k: str, at_least: float) -> None:  # released, and seen released 3 times
            row = self._where(k)[0]
            base = self.looked.get(row, 0)
            self.release(k)
            wait(lambda: self.looked.get(row, 0) - base >= 3, at_least)

        prev = None
        for k in keys:
            if prev is not None and prev == k:
                up(prev, gap_s)
                prev = None
            self.press(k)
            if prev is not None:
                _t.sleep(rollover_s)
                up(prev, 0)
                self.seen[k] = 0  # count only the scans that can read k alone
            down(k)
            if rollover_s > 0:
                prev = k
            else:
                up(k, gap_s)
        if prev is not None:
            up(prev, gap_s)
