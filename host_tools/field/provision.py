"""What `bourg provision` does besides the registry's own work (host_tools.field.registry)
and the broker's files (host_tools.field.mosquitto): read a password kept in a file, read
and check which board is on a port before it is registered, write a secrets file only its
owner can read (mode 0600), and a locker bank's compartment numbers. The command's
arguments, messages and exit codes are host_tools.commands.provision's; its uses are in
docs/field-tools.md.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from host_tools.field.boardid import BoardIdentity


class UsageError(ValueError):
    """Bad input the technician can fix (a missing file, no such port): exit 2."""


def write_private(path: Path, text: str) -> None:
    """Write a secrets file readable by its owner only, atomically: through a new file of a
    fresh name beside it (made 0600 and exclusively, never through a link someone left
    there), removed if the rename fails (`path` a directory, say), so no copy of the
    secrets is left behind."""
    import errno
    import tempfile

    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a directory: give a file name", str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="." + path.name + ".", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(name, path)
    except BaseException:
        os.unlink(name)
        raise


def read_secret_file(path: Path, what: str) -> str:
    """A password kept in a file (out of shell history); UsageError naming the option when
    it cannot be read, is not text or is empty (a file saved empty by mistake would hand
    every board an empty password)."""
    try:
        text = path.read_text().strip()
    except OSError as e:
        raise UsageError(f"cannot read {what} {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{what} {path}: not a text file (UTF-8)") from None
    if not text:
        raise UsageError(f"{what} {path} is empty")
    return text


def check_site(site: str, ssid: str, wifi_password: str) -> None:
    """UsageError for what every board of the site would refuse in its config or secrets
    (bourg.configcheck's own rules): checked before the registry keeps any of it."""
    from host_tools.field.boardconfig import firmware_config

    cc = firmware_config()
    why = cc.check_id(site) if 1 <= len(site) <= 32 else "expected 1 to 32 characters"
    if why:
        raise UsageError(f"site {site!r}: {why}")
    if not 1 <= len(ssid) <= 32:
        raise UsageError(f"--ssid {ssid!r}: expected 1 to 32 characters")
    if len(wifi_password) > 64:
        raise UsageError(f"--wifi-password-file: {len(wifi_password)} characters; a WiFi "
                         "password has at most 64")


class BoardSilent(Exception):
    """The board on the port did not answer: nothing was registered (exit 3)."""


def read_board_identity(port: str) -> BoardIdentity:
    """Which board is on `port` (its unique_id, the device_id it runs as), read without
    stopping its app for good: the one place provisioning opens a board."""
    from host_tools.field.boardid import read_identity
    from host_tools.field.serialboard import SerialBoard

    b = SerialBoard(port, restore_app=True)
    try:
        return read_identity(b)
    finally:
        b.close()


def read_unique_id(port: str) -> str:
    """The unique_id of the board on `port`, deliberately unchecked: the demo registers the
    blank virtual boards it has just started, which run as no device yet and which it knows
    are the right ones. A technician's `provision add --port` uses checked_unique_id, which
    also refuses a board that is not the --unique-id given or that runs as another device,
    and says that a board did not answer as BoardSilent (here a TransportError or OSError
    goes to the caller as it is)."""
    return read_board_identity(port).unique_id


def checked_unique_id(port: str, device_id: str, unique_id: str | None = None,
                      force: bool = False) -> str:
    """The unique_id of the board on `port`, after checking that it is the one the technician
    means: the `unique_id` given, if any, and not a board running as another device (unless
    force). The registry's own duplicate checks come in Registry.add. Raises BoardSilent when
    the board does not answer, IdentityError when it is another board."""
    from host_tools.field import boardid
    from host_tools.field.serialboard import TransportError

    try:
        ident = read_board_identity(port)
    except (TransportError, OSError) as e:
        raise BoardSilent(f"the board did not answer ({e}); nothing was registered. Check "
                          "the cable and power, then run the same command again.") from None
    if unique_id and unique_id != ident.unique_id:
        raise boardid.IdentityError(f"the board on {port} has unique_id {ident.unique_id}, "
                                    f"not {unique_id}; nothing was registered")
    boardid.check(ident, device_id, None, port, force)
    return ident.unique_id


def compartments_of(config: dict[str, Any]) -> list[int] | None:
    """A locker bank's compartment numbers from its config; None for other roles."""
    if config.get("role") != "locker":
        return None
    return [c["n"] for c in config["app"]["compartments"]]
