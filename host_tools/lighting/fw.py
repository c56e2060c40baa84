"""Import the pole firmware's pure modules (firmware/lighting/*.py) into CPython, the same
files that run on the board."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from host_tools.build import fwmodules

REPO = Path(__file__).resolve().parents[2]
FW_DIR = REPO / "firmware" / "lighting"
SHARED_DIR = REPO.parent / "shared" / "lighting"
MODULES = ("sun", "nightprofile", "profilecheck", "dimmer", "frames", "lightwave", "presence",
           "energy", "lampwatch", "tzrule", "schedule", "pole", "pole_schema")


def load(name: str) -> ModuleType:
    """The firmware module `name` (see host_tools.build.fwmodules)."""
    return fwmodules.load(FW_DIR, MODULES, name)
