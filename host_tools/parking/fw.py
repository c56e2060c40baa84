"""Import the parking firmware's pure modules (firmware/parking_sensor/*.py) into CPython,
the same files that run on the board."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from host_tools.build import fwmodules

REPO = Path(__file__).resolve().parents[2]
FW_DIR = REPO / "firmware" / "parking_sensor"
MODULES = ("detector", "gate", "reports", "uplink", "bays", "sensor_state")


def load(name: str) -> ModuleType:
    """The firmware module `name` (see host_tools.build.fwmodules)."""
    return fwmodules.load(FW_DIR, MODULES, name)
