"""A locker compartment's solenoid lock on a relay output (the locker bank's part)."""

from __future__ import annotations

from host_tools.emulator.parts.base import Device


class Lock(Device):
    """A solenoid lock on a relay: each rising edge of its pin is an unlock pulse; the door
    may be opened for a few seconds after one."""

    def __init__(self, gpio: int) -> None:
        super().__init__()
        self.gpio = gpio
        self.pulses: list[float] = []

    def on_pin(self, gpio: int, level: int) -> None:
        if gpio == self.gpio and level:
            self.pulses.append(self.now())

    def unlocked(self, within_s: float = 5.0) -> bool:
        return bool(self.pulses) and self.now() - self.pulses[-1] < within_s
