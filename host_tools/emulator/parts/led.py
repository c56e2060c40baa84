"""Lights on output pins: `Led` (on or off, every change recorded) and `Luminaire` (a street
lamp dimmed by PWM, with its power and light output)."""

from __future__ import annotations

from typing import Callable

from host_tools.emulator.parts.base import Device


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
        self.timeline: list[tuple[float, float]] = []  # (the world's clock, level)

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
        self.timeline.append((self.now(), level))
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
