"""Which board is on the port: its chip's unique_id and the device_id its /config.json gives
it now, read before anything is written, and checked against the registry.

Why: a technician with several boards on the bench can plug in the wrong one. Writing
pole-01's app and keys onto the field-test board (or keeping that board's old secrets under
a new name) would make two boards speak as one, and nothing would say so.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from host_tools.field.registry import Registry
    from host_tools.field.serialboard import SerialBoard

_READ = """
import machine, binascii, json, os
try:
    with open('/config.json') as _f:
        _d = json.load(_f).get('device_id')
except Exception:
    _d = None
print(repr((binascii.hexlify(machine.unique_id()).decode(), _d,
            'secrets.json' in os.listdir('/'))))
"""


@dataclass(frozen=True)
class BoardIdentity:
    unique_id: str
    device_id: str | None  # from the board's /config.json; None on a blank board
    has_secrets: bool = False  # a /secrets.json, which a deploy without secrets keeps


class IdentityError(ValueError):
    """The board on the port is not the one the command is for (exit 1, --force overrides)."""


def read_identity(board: SerialBoard) -> BoardIdentity:
    uid, dev, has_secrets = ast.literal_eval(board.exec(_READ).strip())
    return BoardIdentity(str(uid), dev if isinstance(dev, str) else None, bool(has_secrets))


def mismatches(ident: BoardIdentity, device_id: str, reg: Registry | None) -> list[str]:
    """Every reason to believe this board is not `device_id`; empty when it is, or when
    nothing says otherwise (a blank board, a device registered without its unique_id)."""
    out: list[str] = []
    if ident.device_id and ident.device_id != device_id:
        out.append(f"the board runs as {ident.device_id!r} now (its /config.json)")
    if reg is not None:
        dev = reg.get(device_id)
        if dev is not None and dev.unique_id and dev.unique_id != ident.unique_id:
            out.append(f"its unique_id is {ident.unique_id}, but {device_id} is registered "
                       f"with {dev.unique_id}")
        owner = reg.owner_of(ident.unique_id)
        if owner is not None and owner != device_id:
            out.append(f"its unique_id {ident.unique_id} is registered as {owner!r}")
    return out


def check(ident: BoardIdentity, device_id: str, reg: Registry | None, port: str,
          force: bool) -> None:
    """Raise IdentityError naming every mismatch, unless force."""
    problems = mismatches(ident, device_id, reg)
    if problems and not force:
        raise IdentityError(f"the board on {port} does not look like {device_id}: "
                            + "; ".join(problems)
                            + ". Nothing was written. Check which board is plugged in, or "
                            "give --force to write it anyway")
