"""Contacts on an input pin: `Switch` (a button, a door switch: to ground or to 3V3) and `Pir`
(a presence sensor's output, with the faults a pole must survive)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from host_tools.emulator.parts.base import Device

if TYPE_CHECKING:
    from host_tools.emulator.board import Board


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


class Pir(Switch):
    """A PIR or microwave module's push-pull output: high while it detects. `stuck()` models
    a sensor that stays triggered; `dead()` one that never triggers (it ignores detect())."""

    def __init__(self, gpio: int) -> None:
        super().__init__(gpio, active_low=False)
        self.is_dead = False
        self.edges: list[tuple[float, bool]] = []  # (the world's clock, level)

    def detect(self, on: bool = True) -> None:
        if self.is_dead:
            return
        self.edges.append((self.now(), on))
        self.set(on)

    def dead(self) -> None:
        self.is_dead = True
        self.set(False)
