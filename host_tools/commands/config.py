"""`bourg config`: validate board configs and compare one with a board's (the work:
host_tools.field.boardconfig)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from host_tools.commands import EXIT_BOARD, EXIT_FAIL, EXIT_OK, EXIT_USAGE
from host_tools.field.boardconfig import (
    BoardConfigError,
    BoardConfigUnreadable,
    config_differences,
    is_json_schema,
    load_and_validate,
    read,
    validate,
)


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


_STATUS_EXIT = {"unreadable": EXIT_USAGE, "invalid": EXIT_FAIL}  # _validate_one's verdicts


def _validate_files(files: list[Path], as_json: bool = False) -> int:
    """EXIT_OK all ok, EXIT_FAIL a config failed the board's checks, EXIT_USAGE a file
    could not be read (the worst file decides: the codes grow with how bad it is). The
    editors' schema.json, caught by a `board_configs/*.json` glob, is skipped with a note."""
    code = EXIT_OK
    for f in files:
        r = _validate_one(f)
        code = max(code, _STATUS_EXIT.get(r["status"], EXIT_OK))
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


def main(args: argparse.Namespace) -> int:
    if args.config_cmd == "validate":
        return _validate_files(args.files, args.json)
    if args.config_cmd == "diff":
        return _diff(args)
    try:
        print(json.dumps(load_and_validate(args.file), indent=2))
    except BoardConfigError as e:
        print(e, file=sys.stderr)
        return EXIT_USAGE if isinstance(e, BoardConfigUnreadable) else EXIT_FAIL
    return EXIT_OK


def _diff(args: argparse.Namespace) -> int:
    from host_tools.field.ports import resolve_port
    from host_tools.field.serialboard import SerialBoard, TransportError

    try:
        repo = load_and_validate(args.file)
        port = resolve_port(args.port)
    except (BoardConfigError, LookupError) as e:
        print(f"bourg config diff: {e}", file=sys.stderr)
        return EXIT_USAGE
    try:
        sb = SerialBoard(port, restore_app=True)  # read-only: the app runs on after
        try:
            board = json.loads(sb.get("/config.json"))
        finally:
            sb.close()
    except (TransportError, OSError, ValueError) as e:
        print(f"bourg config diff: cannot read /config.json from the board on {port}: {e}",
              file=sys.stderr)
        return EXIT_BOARD
    diffs = config_differences(repo, board)
    if args.json:
        print(json.dumps({"file": str(args.file), "port": port, "same": not diffs,
                          "differences": [d.to_json() for d in diffs]}))
    elif diffs:
        print("\n".join(d.line() for d in diffs))
    else:
        print(f"{args.file}: the board on {port} has the same config")
    return EXIT_FAIL if diffs else EXIT_OK
