"""Import the locker firmware's pure modules (firmware/locker/*.py) into CPython, the same files
that check codes on the board."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from host_tools.build import fwmodules

REPO = Path(__file__).resolve().parents[2]
FW_DIR = REPO / "firmware" / "locker"
MODULES = ("codes", "lockout", "bank")


def load(name: str) -> ModuleType:
    return fwmodules.load(FW_DIR, MODULES, name)
