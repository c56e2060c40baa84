"""Import the parking firmware's pure modules (firmware/parking_sensor/*.py) into CPython,
the same files that run on the board."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]
FW_DIR = REPO / "firmware" / "parking_sensor"
MODULES = ("detector", "reports", "bays", "sensor_state")


def load(name: str) -> ModuleType:
    if name not in MODULES:
        raise ValueError(f"not a parking firmware module: {name}")
    for d in (str(FW_DIR.parent / "lib"), str(FW_DIR)):
        if d not in sys.path:
            sys.path.insert(0, d)
    mod = importlib.import_module(name)
    f = getattr(mod, "__file__", None)
    if f is None or Path(f).resolve().parent != FW_DIR:
        raise ImportError(f"{name} resolved to {f}, not {FW_DIR}")
    return mod
