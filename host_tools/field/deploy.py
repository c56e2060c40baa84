"""Putting a board's app on it over its serial port: the work of `bourg deploy` (whose
arguments, messages and exit codes are host_tools.commands.deploy's), also done by the demo
and the tests.

The file set is the one every path uses (`host_tools.build.firmware.stage`): the app folder and
`firmware/lib` compiled to .mpy for the board's architecture, `config.json`, and `secrets.json`
when given. Only files whose SHA-256 differs from the board's are copied. Each is first written
as `<path>.new` and checked by hash on the board; only when every file is in place are they
renamed over the old ones, so a board that stops answering mid-copy keeps its previous app.
The board's own state (`/data/`, `/settings.json`) is never touched.

Secrets the board would refuse are refused before the port is opened; which secrets a board
gets is the caller's (host_tools.field.board_secrets). Before writing, a `check` given by the
caller may refuse the board on the port (boardid: not the config's device). A Ctrl-C before
the switch-over removes the partial `*.new` files and restarts the old app; a deploy that
could not do that (board unplugged) leaves them to the next deploy, which reuses those that
are complete and removes the rest.
"""

from __future__ import annotations

import ast
import hashlib
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from host_tools.build import firmware
from host_tools.field.boardconfig import validate_secrets
from host_tools.field.boardid import BoardIdentity, read_identity
from host_tools.field.serialboard import SerialBoard, TransportError

PROTECTED = ("/data", "/settings.json", "/sim", "/boot.py")

_HASH_ALL = """
import os, hashlib, binascii
def _h(p):
    s = hashlib.sha256()
    with open(p, 'rb') as f:
        while True:
            b = f.read(1024)
            if not b:
                break
            s.update(b)
    return binascii.hexlify(s.digest()).decode()
def _walk(d, out):
    for e in os.ilistdir(d):
        p = (d if d != '/' else '') + '/' + e[0]
        if p in SKIP:
            continue
        if e[1] == 0x4000:
            _walk(p, out)
        else:
            out[p] = _h(p)
_o = {}
_walk('/', _o)
print(repr(_o))
"""

# After a Ctrl-C on the host: close the file mpremote's fs_writefile left open (its `f`) and
# remove every partial `*.new`, so nothing half-written stays on the board.
_REMOVE_NEW = """
import os
try:
    f.close()
except Exception:
    pass
_n = []
def _rm(d):
    for e in os.ilistdir(d):
        p = (d if d != '/' else '') + '/' + e[0]
        if p in SKIP:
            continue
        if e[1] == 0x4000:
            _rm(p)
        elif p.endswith('.new'):
            os.remove(p)
            _n.append(p)
_rm('/')
print(len(_n))
"""


# Once an app has started machine.WDT it cannot be stopped: it keeps counting while deploy
# holds the board in the raw REPL (and across soft reboots), and would reset the board in the
# middle of a copy longer than the app's timeout. Calling WDT() again only sets a new timeout
# (ports/esp32/machine_wdt.c: esp_task_wdt_reconfigure on the one user handle), so deploy
# gives it this long one before copying. On a board whose app never started the watchdog
# this starts it: the reset at the end of the deploy stops it, and with --no-reset the board
# resets into its new app when it runs out.
DEPLOY_WDT_MS = 10 * 60 * 1000
_HOLD_WDT = f"import machine\nmachine.WDT(timeout={DEPLOY_WDT_MS})\n"


def hold_watchdog(board: SerialBoard) -> None:
    """Give a running app's watchdog DEPLOY_WDT_MS while the host holds the board."""
    board.exec(_HOLD_WDT)


class DeployError(RuntimeError):
    pass


class DeployInterrupted(KeyboardInterrupt):
    """Ctrl-C before the switch-over; the message says what became of the board."""


@dataclass
class Plan:
    copy: dict[str, bytes] = field(default_factory=dict)
    remove: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    leftover: list[str] = field(default_factory=list)  # *.new from an interrupted deploy
    reuse: list[str] = field(default_factory=list)  # of copy: a complete *.new is there

    def summary(self) -> dict[str, Any]:
        return {"copy": sorted(self.copy), "remove": sorted(self.remove),
                "unchanged": len(self.unchanged),
                "bytes": sum(len(v) for v in self.copy.values()),
                "leftover": sorted(self.leftover)}


def _removal_order(path: str) -> tuple[int, str]:
    """An update's boot record first, then its slots' manifests, then the rest: a power cut
    among the removals leaves the factory app, or a slot still whole, never one half gone
    that the loader would take for complete (firmware/lib/ota_boot.py)."""
    if path.startswith("/ota/boot.json"):
        return 0, path
    if path.startswith("/ota/") and path.endswith("/manifest.json"):
        return 1, path
    return 2, path


def _managed(path: str) -> bool:
    """Files deploy owns: code and config it puts there, never the board's own data."""
    return path.endswith((".py", ".mpy", ".json")) and not path.startswith(PROTECTED)


_SKIP = repr(PROTECTED[:1] + PROTECTED[2:3])


def board_hashes(board: SerialBoard) -> dict[str, str]:
    out = board.exec(_HASH_ALL.replace("SKIP", _SKIP), timeout=60)
    return ast.literal_eval(out.strip())


def make_plan(staged: dict[str, bytes], on_board: dict[str, str],
              keep: tuple[str, ...] = ()) -> Plan:
    """What to copy (hash differs) and remove (ours, no longer staged, not in `keep`).
    A `*.new` left by an interrupted deploy is reused when it holds what is to be copied,
    and removed otherwise."""
    plan = Plan()
    for path, data in sorted(staged.items()):
        digest = hashlib.sha256(data).hexdigest()
        if on_board.get(path) == digest:
            plan.unchanged.append(path)
        else:
            plan.copy[path] = data
            if on_board.get(path + ".new") == digest:
                plan.reuse.append(path)
    plan.leftover = sorted(p for p in on_board if p.endswith(".new"))
    plan.remove = sorted((p for p in on_board
                          if p not in staged and p not in keep and _managed(p)
                          and not p.endswith(".new")), key=_removal_order)
    plan.remove += [p for p in plan.leftover if p[:-4] not in plan.copy]
    return plan


class _CtrlC:
    """Ctrl-C as a flag as well as an exception. Python drops an exception raised while a
    finaliser runs ("Exception ignored in ..."), so a Ctrl-C can vanish into a __del__; the
    flag is looked at before each file and before the switch-over, so it never does here."""

    def __init__(self) -> None:
        self.seen = False

    def __call__(self, *_: object) -> None:
        self.seen = True
        raise KeyboardInterrupt

    def check(self) -> None:
        if self.seen:
            raise KeyboardInterrupt


@contextmanager
def _sigint(handler: Callable[..., None]) -> Iterator[bool]:
    """Ctrl-C goes to `handler` for the block, and the previous handler comes back after.
    Yields False where Python allows no handler (not the main thread) or where the process
    was started with Ctrl-C ignored (nohup): that choice is kept."""
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is signal.SIG_IGN):
        yield False
        return
    old = signal.signal(signal.SIGINT, handler)
    try:
        yield True
    finally:
        signal.signal(signal.SIGINT, old)


@contextmanager
def _catch_ctrl_c() -> Iterator[Callable[[], None]]:
    """Yields the check of _CtrlC (a check that never raises where Ctrl-C is not ours)."""
    ctrl_c = _CtrlC()
    with _sigint(ctrl_c) as ours:
        yield ctrl_c.check if ours else (lambda: None)


def apply_plan(board: SerialBoard, plan: Plan, progress: Any = None,
               ctrl_c: Callable[[], None] = lambda: None) -> None:
    """`ctrl_c` raises KeyboardInterrupt if one was seen and lost (see _CtrlC)."""
    for d in sorted({p.rsplit("/", 1)[0] for p in plan.copy if p.count("/") > 1}):
        board.exec("import os\n"
                   f"_p = ''\nfor _s in {d!r}.strip('/').split('/'):\n"
                   "    _p += '/' + _s\n"
                   "    try:\n        os.mkdir(_p)\n    except OSError:\n        pass\n")
    for i, (path, data) in enumerate(sorted(plan.copy.items()), 1):
        ctrl_c()
        if path not in plan.reuse:
            board.put(path + ".new", data)
        if progress:
            progress(i, len(plan.copy), path)
    want = {p + ".new": hashlib.sha256(d).hexdigest() for p, d in plan.copy.items()}
    got = board_hashes(board) if want else {}
    bad = [p for p, h in want.items() if got.get(p) != h]
    if bad:
        raise DeployError(f"verification failed for {', '.join(bad)}; the board keeps its "
                          "previous files")
    moves = [(p + ".new", p) for p in sorted(plan.copy)]
    ctrl_c()
    # the renames run to their end: a Ctrl-C among them would leave some files new and some
    # old, so it is held off (the board finishes in well under a second)
    with _sigint(lambda *_: None):
        board.exec("import os\n"
                   f"for _a, _b in {moves!r}:\n    os.rename(_a, _b)\n"
                   f"for _r in {plan.remove!r}:\n    os.remove(_r)\n")


def stage_bytes(config: dict[str, Any], secrets: dict[str, Any] | None,
                compiled: bool) -> dict[str, bytes]:
    staged = firmware.stage(config, secrets, compiled=compiled)
    return {p: firmware.content(v) for p, v in staged.items()}


def deploy(port: str, config: dict[str, Any], secrets: dict[str, Any] | None = None, *,
           compiled: bool = True, dry_run: bool = False, reset: bool = True,
           progress: Any = None,
           check: Callable[[BoardIdentity], None] | None = None) -> Plan:
    """Copy what changed; `check` may refuse the board (IdentityError) before any write.
    A session that writes nothing puts a running app back (SerialBoard restore_app).
    Secrets the board would refuse at boot (BoardConfigError) are refused before the port is
    opened: a board left in SAFE MODE by a bad key is a trip to the pole."""
    if secrets is not None:
        validate_secrets(config, secrets)
    board = SerialBoard(port, restore_app=True)
    switched: list[bool] = []  # set once the renames have run
    try:
        with _catch_ctrl_c() as ctrl_c:
            return _deploy_on(board, config, secrets, compiled=compiled, dry_run=dry_run,
                              reset=reset, progress=progress, check=check, ctrl_c=ctrl_c,
                              switched=switched)
    except KeyboardInterrupt:
        if switched:
            raise DeployInterrupted("the new app was already in place; the board was not "
                                    "reset into it: press its EN button, or run the same "
                                    "command again") from None
        raise DeployInterrupted(_recover(board, reset)) from None
    finally:
        board.close()


def _deploy_on(board: SerialBoard, config: dict[str, Any], secrets: dict[str, Any] | None,
               *, compiled: bool, dry_run: bool, reset: bool, progress: Any,
               check: Callable[[BoardIdentity], None] | None,
               ctrl_c: Callable[[], None], switched: list[bool]) -> Plan:
    ident = read_identity(board)
    if check is not None:
        check(ident)
    staged = stage_bytes(config, secrets, compiled)
    # Without new secrets the board keeps its own, unless they are another device's.
    keep: tuple[str, ...] = ()
    if secrets is None:
        staged.pop("/secrets.json", None)
        if ident.device_id in (None, config["device_id"]):
            keep = ("/secrets.json",)
    if not dry_run:
        board.restore_app = False  # from here the deploy ends in a reset (or --no-reset)
        hold_watchdog(board)
    plan = make_plan(staged, board_hashes(board), keep=keep)
    if not dry_run:
        apply_plan(board, plan, progress, ctrl_c)
        switched.append(True)
        if reset:
            board.reset()
    return plan


def _recover(board: SerialBoard, reset: bool) -> str:
    """After Ctrl-C: stop what the board was doing, remove the partial files, and start the
    old app again. Returns what happened, for the technician."""
    try:
        board.interrupt()
        n = int(board.exec(_REMOVE_NEW.replace("SKIP", _SKIP), timeout=60).strip() or 0)
        if board.restore_app:  # nothing written yet: close() puts the app back
            how = "running again" if board.app_was_running else "as it was"
        elif reset:
            board.reset()
            how = "reset into it"
        else:
            how = "left at the prompt (--no-reset)"
    except (TransportError, OSError, ValueError):
        return ("the board did not answer the clean-up; it keeps its previous app, and the "
                "next deploy removes the partial *.new files")
    return (f"nothing was switched over: the board keeps its previous app, {how}; "
            f"{n} partial *.new file(s) removed")
