"""Import a firmware folder's pure modules into CPython: the very files that run on the board
(the simulators, replays and tests use them), with firmware/lib on the path for `bourg.*`."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType


def load(fw_dir: Path, modules: tuple[str, ...], name: str) -> ModuleType:
    """Module `name` from `fw_dir`, checked to come from there (a same-named module elsewhere
    on sys.path cannot stand in for it)."""
    if name not in modules:
        raise ValueError(f"not a module of {fw_dir.name}: {name}")
    for d in (str(fw_dir.parent / "lib"), str(fw_dir)):
        if d not in sys.path:
            sys.path.insert(0, d)
    mod = importlib.import_module(name)
    f = getattr(mod, "__file__", None)
    if f is None or Path(f).resolve().parent != fw_dir:
        raise ImportError(f"{name} resolved to {f}, not {fw_dir}")
    return mod


FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"


def bourg_module(name: str) -> ModuleType:
    """The board's bourg.`name` (e.g. "configcheck"), checked to be the firmware's file."""
    lib = str(FIRMWARE / "lib")
    if lib not in sys.path:
        sys.path.insert(0, lib)
    mod = importlib.import_module("bourg." + name)
    f = getattr(mod, "__file__", None)
    if f is None or Path(f).resolve() != FIRMWARE / "lib" / "bourg" / (name + ".py"):
        raise ImportError(f"bourg.{name} resolved to {f}, not the firmware's")
    return mod
