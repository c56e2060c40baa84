"""`bourg deploy BOARD_CONFIG`: put a board's app on it over its serial port.

The file set is the one every path uses (`host_tools.firmware.stage`): the app folder and
`firmware/lib` compiled to .mpy for the board's architecture, `config.json`, and `secrets.json`
when given. Only files whose SHA-256 differs from the board's are copied. Each is first written
as `<path>.new` and checked by hash on the board; only when every file is in place are they
renamed over the old ones, so a board that stops answering mid-copy keeps its previous app.
The board's own state (`/data/`, `/settings.json`) is never touched.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import firmware
from .boardconfig import BoardConfigError, load_and_validate
from .serialboard import SerialBoard, TransportError

PROTECTED = ("/data", "/settings.json", "/sim", "/boot.py")
EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_BOARD = 0, 1, 2, 3

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


# Once an app has started machine.WDT it cannot be stopped: it keeps counting while deploy
# holds the board in the raw REPL (and across soft reboots), and would reset the board in the
# middle of a copy longer than the app's timeout. Calling WDT() again only sets a new timeout
# (ports/esp32/machine_wdt.c: esp_task_wdt_reconfigure on the one user handle), so deploy
# gives it this long one before copying. On a board whose app never started the watchdog
# this starts it: the reset at the end of the deploy stops it, and with --no-reset the board
# resets into its new app when it runs out.
DEPLOY_WDT_MS = 10 * 60 * 1000
_HOLD_WDT = f"import machine\nmachine.WDT(timeout={DEPLOY_WDT_MS})\n"


class DeployError(RuntimeError):
    pass


@dataclass
class Plan:
    copy: dict[str, bytes] = field(default_factory=dict)
    remove: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {"copy": sorted(self.copy), "remove": sorted(self.remove),
                "unchanged": len(self.unchanged),
                "bytes": sum(len(v) for v in self.copy.values())}


def _content(value: Any) -> bytes:
    if isinstance(value, Path):
        return value.read_bytes()
    if isinstance(value, str):
        return value.encode()
    return bytes(value)


def _managed(path: str) -> bool:
    """Files deploy owns: code and config it puts there, never the board's own data."""
    return path.endswith((".py", ".mpy", ".json")) and not path.startswith(PROTECTED)


def board_hashes(board: SerialBoard) -> dict[str, str]:
    out = board.exec(_HASH_ALL.replace("SKIP", repr(PROTECTED[:1] + PROTECTED[2:3])),
                     timeout=60)
    return ast.literal_eval(out.strip())


def make_plan(staged: dict[str, bytes], on_board: dict[str, str],
              keep: tuple[str, ...] = ()) -> Plan:
    """What to copy (hash differs) and remove (ours, no longer staged, not in `keep`)."""
    plan = Plan()
    for path, data in sorted(staged.items()):
        if on_board.get(path) == hashlib.sha256(data).hexdigest():
            plan.unchanged.append(path)
        else:
            plan.copy[path] = data
    plan.remove = sorted(p for p in on_board
                         if p not in staged and p not in keep and _managed(p)
                         and not p.endswith(".new"))
    return plan


def apply_plan(board: SerialBoard, plan: Plan, progress: Any = None) -> None:
    for d in sorted({p.rsplit("/", 1)[0] for p in plan.copy if p.count("/") > 1}):
        board.exec("import os\n"
                   f"_p = ''\nfor _s in {d!r}.strip('/').split('/'):\n"
                   "    _p += '/' + _s\n"
                   "    try:\n        os.mkdir(_p)\n    except OSError:\n        pass\n")
    for i, (path, data) in enumerate(sorted(plan.copy.items()), 1):
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
    board.exec("import os\n"
               f"for _a, _b in {moves!r}:\n    os.rename(_a, _b)\n"
               f"for _r in {plan.remove!r}:\n    os.remove(_r)\n")


def stage_bytes(config: dict[str, Any], secrets: dict[str, Any] | None,
                compiled: bool) -> dict[str, bytes]:
    return {p: _content(v) for p, v in firmware.stage(config, secrets, compiled=compiled).items()}


def deploy(port: str, config: dict[str, Any], secrets: dict[str, Any] | None = None, *,
           compiled: bool = True, dry_run: bool = False, reset: bool = True,
           progress: Any = None) -> Plan:
    board = SerialBoard(port)
    try:
        staged = stage_bytes(config, secrets, compiled)
        if secrets is None:
            staged.pop("/secrets.json", None)
        if not dry_run:
            board.exec(_HOLD_WDT)
        on_board = board_hashes(board)
        # Without new secrets the board keeps its own: not ours to remove.
        plan = make_plan(staged, on_board, keep=("/secrets.json",) if secrets is None else ())
        if not dry_run:
            apply_plan(board, plan, progress)
            if reset:
                board.reset()
    finally:
        board.close()
    return plan


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", type=Path, help="board config JSON")
    p.add_argument("--port", help="serial port (default: the only USB-serial board found)")
    p.add_argument("--secrets", type=Path, help="secrets JSON for this board (from provision)")
    p.add_argument("--registry", type=Path, help="take this board's secrets from the device "
                   "registry (see `bourg provision`)")
    p.add_argument("--source", action="store_true", help="copy .py sources, not .mpy")
    p.add_argument("--dry-run", action="store_true", help="say what would be copied")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.add_argument("--no-reset", action="store_true", help="do not reset afterwards (the "
                   "board's watchdog, set to 10 min for the copy, resets it after that)")


def deploy_main(args: argparse.Namespace) -> int:
    try:
        config = load_and_validate(args.config)
    except BoardConfigError as e:
        print(f"bourg deploy: invalid config, nothing was copied:\n{e}", file=sys.stderr)
        return EXIT_USAGE
    secrets = None
    if args.secrets:
        try:
            secrets = json.loads(args.secrets.read_text())
        except (OSError, ValueError) as e:
            print(f"bourg deploy: cannot read secrets {args.secrets}: {e}", file=sys.stderr)
            return EXIT_USAGE
    if secrets is None and args.registry:
        from .registry import Registry, RegistryError

        if not args.registry.exists():
            print(f"bourg deploy: no registry at {args.registry}", file=sys.stderr)
            return EXIT_USAGE
        try:
            with Registry(args.registry) as reg:
                secrets = reg.secrets(config["device_id"])
        except RegistryError as e:
            print(f"bourg deploy: {e}; run `bourg provision add {args.config}` first",
                  file=sys.stderr)
            return EXIT_USAGE
    try:
        from .ports import resolve_port

        port = resolve_port(args.port)
    except LookupError as e:
        print(f"bourg deploy: {e}", file=sys.stderr)
        return EXIT_USAGE

    def progress(i: int, n: int, path: str) -> None:
        if not args.json:
            print(f"  [{i}/{n}] {path}", file=sys.stderr)

    try:
        plan = deploy(port, config, secrets, compiled=not args.source, dry_run=args.dry_run,
                      reset=not args.no_reset, progress=progress)
    except (TransportError, OSError) as e:
        print(f"bourg deploy: the board on {port} stopped answering ({e}).\n"
              "  Nothing was switched over: the board keeps its previous app. Check the cable "
              "and power, then run the same command again.", file=sys.stderr)
        return EXIT_BOARD
    except DeployError as e:
        print(f"bourg deploy: {e}", file=sys.stderr)
        return EXIT_BOARD
    s = plan.summary()
    if args.json:
        print(json.dumps({"port": port, "dry_run": args.dry_run, **s}))
    else:
        verb = "would copy" if args.dry_run else "copied"
        print(f"{config['device_id']} on {port}: {verb} {len(s['copy'])} file(s) "
              f"({s['bytes']} bytes), removed {len(s['remove'])}, {s['unchanged']} unchanged")
    return EXIT_OK
