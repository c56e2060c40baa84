"""Which files make up a board's app, by role: the firmware folder, the shared runtime and the
board config. Used by the emulator, `bourg deploy` and the demo alike, so every path installs
the same set."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from host_tools.build import mpy

REPO = Path(__file__).resolve().parents[2]
FIRMWARE = REPO / "firmware"
LIB = FIRMWARE / "lib"
ROLE_DIRS = {
    "lighting": "lighting",
    "locker": "locker",
    "parking_sensor": "parking_sensor",
    "parking_totem": "parking_sensor",
    "fieldtest": "fieldtest",
}


class SetupMissing(FileNotFoundError):
    """A file `make setup` provides is not there: the checkout is not set up, not a bug."""


def app_dir(role: str) -> Path:
    try:
        return FIRMWARE / ROLE_DIRS[role]
    except KeyError:
        raise ValueError(f"unknown role {role!r}; known: {', '.join(sorted(ROLE_DIRS))}") \
            from None


def python_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def _add(files: dict[str, Any], dest: str, src: Path, compiled: bool, march: str) -> None:
    if compiled and src.name not in mpy.KEEP_SOURCE:
        files[dest[:-3] + ".mpy"] = mpy.compile_file(src, source_name=dest.lstrip("/"),
                                                     march=march)
    else:
        files[dest] = src


def content(value: Any) -> bytes:
    """The bytes of one staged file (a path, text or bytes)."""
    if isinstance(value, Path):
        return value.read_bytes()
    if isinstance(value, str):
        return value.encode()
    return bytes(value)


VERSION_LINE = re.compile(r'^VERSION = "[^"]*"$', re.M)


def stamped_init(version: str) -> Path:
    """bourg/__init__.py with VERSION = `version`: a release says its version on the board
    (cmd/status, info, the update's downgrade check) as the checkout's own build does."""
    src = (LIB / "bourg" / "__init__.py").read_text()
    if not VERSION_LINE.search(src):
        raise ValueError("firmware/lib/bourg/__init__.py has no VERSION line to stamp")
    out = REPO / "build" / "release" / version / "bourg" / "__init__.py"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(VERSION_LINE.sub(f'VERSION = "{version}"', src, count=1))
    return out


def stage(config: dict[str, Any], secrets: dict[str, Any] | None = None, *,
          compiled: bool = True, version: str | None = None) -> dict[str, Any]:
    """Flash path -> content for a board running `config`. By default modules are compiled to
    .mpy for the board's chip (compiling source on the board costs more heap than it has); main.py
    and boot.py stay source, as the firmware runs them by name. Every board gets the umqtt the
    tests ran, as /lib/umqtt_pinned: the image's frozen umqtt.simple would shadow
    /lib/umqtt/simple, and it is another version (docs/runtime.md)."""
    files: dict[str, Any] = {}
    march = mpy.CHIP_MARCH[config.get("chip", "esp32")]
    folder = app_dir(config["role"])
    if folder.is_dir():
        for p in python_files(folder):
            _add(files, "/" + str(p.relative_to(folder)), p, compiled, march)
    for p in python_files(LIB):
        src = stamped_init(version) if version and p == LIB / "bourg" / "__init__.py" else p
        _add(files, "/lib/" + str(p.relative_to(LIB)), src, compiled, march)
    if not mpy.UMQTT_SOURCE.exists():
        raise SetupMissing(f"{mpy.UMQTT_SOURCE} is missing: run `make setup` "
                                "(tools/fetch_umqtt.py fetches it by sha256)")
    _add(files, "/lib/umqtt_pinned.py", mpy.UMQTT_SOURCE, compiled, march)
    # allow_nan=False: the board's json refuses NaN and Infinity (a board in SAFE MODE)
    files["/config.json"] = json.dumps(config, indent=1, allow_nan=False)
    if secrets is not None:
        files["/secrets.json"] = json.dumps(secrets, allow_nan=False)
    return files
