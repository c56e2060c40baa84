"""Board configs on the host: the board's own validator, run on CPython.

Why the firmware's code: a config the host calls `ok` must boot on the board, and a config
the board refuses must not reach it. So `bourg config validate` (and deploy, provision,
emulate) runs the very files the board runs at boot: firmware/lib/bourg/configcheck.py with
the GPIO rules of firmware/lib/bourg/pins.py, and the role's app schema module (SCHEMA for the
"app" section, PINS for "pins"). board_configs/schema.json is an editor aid only.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from . import fwmodules

REPO = Path(__file__).resolve().parents[1]
FIRMWARE = REPO / "firmware"
SCHEMA_PATH = REPO / "board_configs" / "schema.json"
# role -> (app folder, the pure module holding its SCHEMA and PINS), as each app class uses
APP_SCHEMAS = {
    "lighting": ("lighting", "pole_schema"),
    "locker": ("locker", "locker_schema"),
    "parking_sensor": ("parking_sensor", "sensor_schema"),
    "parking_totem": ("parking_sensor", "totem_schema"),
    "fieldtest": ("fieldtest", "fieldtest_schema"),
}


class BoardConfigError(ValueError):
    """`file: key.path: reason` for the problem found (all problems in .problems)."""

    def __init__(self, file: str, problems: list[tuple[str, str]]) -> None:
        self.file = file
        self.problems = problems
        super().__init__("\n".join(f"{file}: {p or '(top level)'}: {r}" for p, r in problems))


class BoardConfigUnreadable(BoardConfigError):
    """The file could not be read at all: bad input (exit 2), not a failed check."""


def firmware_config(name: str = "configcheck") -> ModuleType:
    """The board's bourg.configcheck (or bourg.`name`), checked to be the firmware's file."""
    return fwmodules.bourg_module(name)


def app_schemas(role: object) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(SCHEMA, PINS) of the app a board of `role` runs; (None, None) for an unknown role,
    which the board schema then refuses by name."""
    if not isinstance(role, str) or role not in APP_SCHEMAS:
        return None, None
    folder, name = APP_SCHEMAS[role]
    mod = fwmodules.load(FIRMWARE / folder, (name,), name)
    return mod.SCHEMA, mod.PINS


def validate(config: Any, file: str = "<config>") -> list[str]:
    """The board's verdict on `config`: raise BoardConfigError naming the file, key path and
    reason of the first problem (the one the board's SAFE MODE would show); return warnings."""
    fw = firmware_config()
    role = config.get("role") if isinstance(config, dict) else None
    schema = fw.board_schema(*app_schemas(role))
    try:
        return fw.check(config, schema, file)[1]
    except fw.ConfigError as e:
        raise BoardConfigError(file, [(e.path, e.reason)]) from None


def is_json_schema(config: Any) -> bool:
    """board_configs/schema.json (the editors' JSON Schema) sits beside the configs, so a
    `board_configs/*.json` glob catches it: recognised by its "$schema" key."""
    return isinstance(config, dict) and "$schema" in config


def read(path: str | Path) -> Any:
    """The parsed file; BoardConfigUnreadable if it cannot be read, BoardConfigError if it is
    not JSON."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise BoardConfigUnreadable(str(path), [("", f"cannot read: {e.strerror}")]) from None
    except UnicodeDecodeError:
        raise BoardConfigError(str(path), [("", "not a text file")]) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise BoardConfigError(str(path), [("", f"invalid JSON at line {e.lineno} column "
                                                f"{e.colno}: {e.msg}")]) from None


def load_and_validate(path: str | Path) -> dict[str, Any]:
    config = read(path)
    if is_json_schema(config):
        raise BoardConfigError(str(path), [("", "this is the JSON Schema for editors, not a "
                                                "board config")])
    for w in validate(config, str(path)):
        print(f"warning: {w}", file=sys.stderr)
    return config


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="config_cmd", metavar="ACTION", required=True)
    v = sub.add_parser("validate", help="check board configs with the board's own validator")
    v.add_argument("files", nargs="+", type=Path, help="board config JSON files")
    v.add_argument("--json", action="store_true",
                   help="print one JSON object per file: status, problems, warnings")
    s = sub.add_parser("show", help="print a validated config")
    s.add_argument("file", type=Path, help="board config JSON")
    d = sub.add_parser("diff", help="compare the config on a board with the one in the repo")
    d.add_argument("file", type=Path, help="the board's config JSON in the repo")
    d.add_argument("--port", help="serial port of the board (default: the only one found)")
    d.add_argument("--json", action="store_true", help="print the differences as JSON")


def _validate_one(f: Path) -> dict[str, Any]:
    """One file's verdict: status ok, skipped, invalid or unreadable, with its problems."""
    out: dict[str, Any] = {"file": str(f), "status": "ok", "problems": [], "warnings": []}
    try:
        config = read(f)
        if is_json_schema(config):
            out["status"] = "skipped"
            out["warnings"] = ["the JSON Schema for editors, not a board config"]
        else:
            out["warnings"] = validate(config, str(f))
    except BoardConfigError as e:
        out["status"] = "unreadable" if isinstance(e, BoardConfigUnreadable) else "invalid"
        out["problems"] = [{"path": path, "reason": reason} for path, reason in e.problems]
        out["message"] = str(e)
    return out


def _validate_files(files: list[Path], as_json: bool = False) -> int:
    """0 all ok, 1 a config failed the board's checks, 2 a file could not be read. The
    editors' schema.json, caught by a `board_configs/*.json` glob, is skipped with a note."""
    code = 0
    for f in files:
        r = _validate_one(f)
        code = max(code, {"unreadable": 2, "invalid": 1}.get(r["status"], 0))
        if as_json:
            print(json.dumps(r))
        elif r["status"] in ("unreadable", "invalid"):
            print(r["message"], file=sys.stderr)
        elif r["status"] == "skipped":
            print(f"{f}: skipped (the JSON Schema for editors, not a board config)")
        else:
            for w in r["warnings"]:
                print(f"warning: {w}", file=sys.stderr)
            print(f"{f}: ok")
    return code


def config_main(args: argparse.Namespace) -> int:
    if args.config_cmd == "validate":
        return _validate_files(args.files, args.json)
    if args.config_cmd == "diff":
        return _diff(args)
    try:
        print(json.dumps(load_and_validate(args.file), indent=2))
    except BoardConfigError as e:
        print(e, file=sys.stderr)
        return 2 if isinstance(e, BoardConfigUnreadable) else 1
    return 0


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}: key paths, as errors name them."""
    if isinstance(obj, dict) and obj:
        out: dict[str, Any] = {}
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: obj}


def config_diff(repo: dict[str, Any], board: dict[str, Any]) -> list[str]:
    a, b = flatten(repo), flatten(board)
    lines = []
    for k in sorted(set(a) | set(b)):
        if k not in b:
            lines.append(f"- {k}: {json.dumps(a[k])}   (only in the repo)")
        elif k not in a:
            lines.append(f"+ {k}: {json.dumps(b[k])}   (only on the board)")
        elif a[k] != b[k]:
            lines.append(f"~ {k}: repo {json.dumps(a[k])}, board {json.dumps(b[k])}")
    return lines


def _diff(args: argparse.Namespace) -> int:
    from .ports import resolve_port
    from .serialboard import SerialBoard, TransportError

    try:
        repo = load_and_validate(args.file)
        port = resolve_port(args.port)
    except (BoardConfigError, LookupError) as e:
        print(f"bourg config diff: {e}", file=sys.stderr)
        return 2
    try:
        sb = SerialBoard(port, restore_app=True)  # read-only: the app runs on after
        try:
            board = json.loads(sb.get("/config.json"))
        finally:
            sb.close()
    except (TransportError, OSError, ValueError) as e:
        print(f"bourg config diff: cannot read /config.json from the board on {port}: {e}",
              file=sys.stderr)
        return 3
    lines = config_diff(repo, board)
    if args.json:
        a, b = flatten(repo), flatten(board)
        print(json.dumps({"file": str(args.file), "port": port, "same": not lines,
                          "differences": [{"key": k, "repo": a.get(k), "board": b.get(k)}
                                          for k in sorted(set(a) | set(b))
                                          if a.get(k, ...) != b.get(k, ...)]}))
        return 1 if lines else 0
    for line in lines:
        print(line)
    if not lines:
        print(f"{args.file}: the board on {port} has the same config")
    return 1 if lines else 0
