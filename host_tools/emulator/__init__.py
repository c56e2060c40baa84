"""Virtual ESP32 boards: the real MicroPython VM with simulated chip peripherals.

Public API: `World`, `Board`, `RadioMedium` and the device models in `devices`."""

from host_tools.emulator.board import Board, BoardError
from host_tools.emulator.world import RadioMedium, World

__all__ = ["World", "Board", "BoardError", "RadioMedium"]
