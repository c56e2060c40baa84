"""Voltages on ADC pins: `AnalogSource` (a constant or a function of time: a battery, a
divider) and `LampCurrent` (the pole's lamp current sensor, following its `Luminaire`)."""

from __future__ import annotations

from typing import Callable

from host_tools.emulator.parts.base import Device
from host_tools.emulator.parts.led import Luminaire


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
