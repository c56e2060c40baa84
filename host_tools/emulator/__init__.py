"""Virtual ESP32 boards: the real MicroPython VM with simulated chip peripherals.

Public API: `World`, `Board`, `RadioMedium` and the device models in `devices`."""

from .board import Board, BoardError
from .world import RadioMedium, World

__all__ = ["World", "Board", "BoardError", "RadioMedium"]
