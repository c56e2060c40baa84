"""Device models for the street-light pole: presence sensor, BH1750 light sensor, DS3231 RTC
and the lamp's current transformer. Register/command level, so the pole's real drivers run.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Callable

from .devices import AnalogSource, I2CDevice, Luminaire, RegisterDevice, Switch

if TYPE_CHECKING:
    from .world import World


class Pir(Switch):
    """A PIR or microwave module's push-pull output: high while it detects. `stuck()` models
    a sensor that stays triggered; `dead()` one that never triggers (it ignores detect())."""

    def __init__(self, gpio: int) -> None:
        super().__init__(gpio, active_low=False)
        self.is_dead = False
        self.edges: list[tuple[float, bool]] = []  # (time.monotonic(), level)

    def detect(self, on: bool = True) -> None:
        if self.is_dead:
            return
        self.edges.append((time.monotonic(), on))
        self.set(on)

    def dead(self) -> None:
        self.is_dead = True
        self.set(False)


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


class LampCurrent(AnalogSource):
    """The lamp's current sensor as docs/lighting.md wires it: a DC output that sits at zero_v
    with no current (inside the ESP32 ADC's linear range at 11 dB) and rises by
    1 / amps_per_volt volts per amp: volts = zero_v + amps / amps_per_volt (the pole's
    defaults, 0.25 V and 0.125 A/V), amps from the luminaire's power at its level over mains
    volts x power factor. `fail()` models a dead LED module (no current), `fail("full")` a
    driver drawing full power."""

    def __init__(self, gpio: int, lamp: Luminaire, *, mains_v: float = 230.0, pf: float = 0.95,
                 amps_per_volt: float = 0.125, zero_v: float = 0.25) -> None:
        super().__init__(gpio, self._volts)
        self.lamp = lamp
        self.mains_v = mains_v
        self.pf = pf
        self.amps_per_volt = amps_per_volt
        self.zero_v = zero_v
        self.fault: str | None = None

    def amps(self) -> float:
        if self.fault == "dead":
            return 0.002
        if self.fault == "full":
            return (self.lamp.standby_w + self.lamp.rated_w) / (self.mains_v * self.pf)
        return self.lamp.watts / (self.mains_v * self.pf)

    def _volts(self) -> float:
        return min(3.3, self.zero_v + self.amps() / self.amps_per_volt)

    def fail(self, kind: str | None = "dead") -> None:
        self.fault = kind
