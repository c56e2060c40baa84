"""`bourg provision`: register boards, keep their secrets, and write the broker's account files.

    bourg provision site demo-town --ssid bourg-demo --wifi-password-file wifi.txt
    bourg provision add board_configs/pole-01.json [--port /dev/ttyUSB0] [--location "..."]
    bourg provision list [--json]
    bourg provision show pole-01 [--secrets]
    bourg provision secrets pole-01 --out pole-01.secrets.json     # mode 0600, for deploy
    bourg provision rotate pole-01 --key mqtt|espnow|bank|all   # all: every key it has
    bourg provision mosquitto --out broker/                        # passwd + acl for the fleet

Secrets are printed only with --secrets, and files holding them are written mode 0600.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


class UsageError(ValueError):
    """Bad input the technician can fix (a missing file, no such port): exit 2."""


def write_private(path: Path, text: str) -> None:
    """Write a secrets file readable by its owner only, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def read_secret_file(path: Path, what: str) -> str:
    """A password kept in a file (out of shell history); UsageError naming the option when
    it cannot be read."""
    try:
        return path.read_text().strip()
    except OSError as e:
        raise UsageError(f"cannot read {what} {path}: {e.strerror}") from None


def read_unique_id(port: str) -> str:
    from host_tools.field.boardid import read_identity
    from host_tools.field.serialboard import SerialBoard

    b = SerialBoard(port, restore_app=True)
    try:
        return read_identity(b).unique_id
    finally:
        b.close()


def compartments_of(config: dict[str, Any]) -> list[int] | None:
    """A locker bank's compartment numbers from its config; None for other roles."""
    if config.get("role") != "locker":
        return None
    return [c["n"] for c in config["app"]["compartments"]]
