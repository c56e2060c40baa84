"""A locker compartment's solenoid lock on a relay output (the locker bank's part)."""

from __future__ import annotations

from host_tools.emulator.parts.base import Device


class Lock(Device):
    """A parcel locker's hook lock on a relay: each rising edge of its pin is an unlock pulse.
    A pulse releases the hook, and it stays released until the door has been opened (it
    catches again when the door is pushed shut), as the hook locks of parcel lockers do."""

    def __init__(self, gpio: int) -> None:
        super().__init__()
        self.gpio = gpio
        self.pulses: list[float] = []
        self._caught = 0  # pulses spent by a door opened since

    def on_pin(self, gpio: int, level: int) -> None:
        if gpio == self.gpio and level:
            self.pulses.append(self.now())

    def unlocked(self) -> bool:
        """Released by a pulse since the door was last opened."""
        return len(self.pulses) > self._caught

    def door_opened(self) -> None:
        """The door was pulled open: the next time it is shut, the hook catches it."""
        self._caught = len(self.pulses)
