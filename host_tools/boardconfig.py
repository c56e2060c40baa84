"""Board configs on the host: JSON Schema validation with errors that name the file, the key
path and the reason, plus the pin checks a careful ESP32 engineer makes by eye."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import jsonschema

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "board_configs" / "schema.json"
FLASH_PINS = {6, 7, 8, 9, 10, 11}  # SPI flash on ESP32-WROOM/WROVER: never usable
STRAPPING_PINS = {0, 2, 5, 12, 15}  # sampled at reset: an output here can glitch or stop boot
INPUT_ONLY = {34, 35, 36, 37, 38, 39}
ESP32_GPIOS = set(range(0, 40)) - {20, 24, 28, 29, 30, 31}
SHARED_PIN_OK = {("sda", "scl")}  # names that may not share a pin are everything else


class BoardConfigError(ValueError):
    """`file: key.path: reason` for the first problem found (all problems in .problems)."""

    def __init__(self, file: str, problems: list[tuple[str, str]]) -> None:
        self.file = file
        self.problems = problems
        super().__init__("\n".join(f"{file}: {p or '(top level)'}: {r}" for p, r in problems))


def _schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text())


def _keypath(err: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in err.absolute_path)


def validate(config: Any, file: str = "<config>") -> list[str]:
    """Raise BoardConfigError for errors; return warnings."""
    validator = jsonschema.Draft202012Validator(_schema())
    problems = [(_keypath(e), e.message)
                for e in sorted(validator.iter_errors(config), key=lambda e: list(e.path))]
    warnings: list[str] = []
    if isinstance(config, dict) and isinstance(config.get("pins"), dict):
        used: dict[int, str] = {}
        for name, gpio in config["pins"].items():
            if not isinstance(gpio, int):
                continue
            path = f"pins.{name}"
            if gpio in FLASH_PINS:
                problems.append((path, f"GPIO{gpio} drives the SPI flash and cannot be used"))
            elif gpio not in ESP32_GPIOS:
                problems.append((path, f"GPIO{gpio} does not exist on the ESP32"))
            if gpio in used:
                problems.append((path, f"GPIO{gpio} is already used by pins.{used[gpio]}"))
            used[gpio] = name
            if gpio in STRAPPING_PINS:
                warnings.append(f"{file}: {path}: GPIO{gpio} is a strapping pin; keep it free "
                                "of loads that pull it at reset")
    if problems:
        raise BoardConfigError(file, problems)
    return warnings


def load_and_validate(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise BoardConfigError(str(path), [("", f"cannot read: {e.strerror}")]) from None
    try:
        config = json.loads(text)
    except json.JSONDecodeError as e:
        raise BoardConfigError(str(path), [("", f"invalid JSON at line {e.lineno} column "
                                                f"{e.colno}: {e.msg}")]) from None
    for w in validate(config, str(path)):
        print(f"warning: {w}", file=sys.stderr)
    return config


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="config_cmd", metavar="ACTION", required=True)
    v = sub.add_parser("validate", help="check board configs against the schema")
    v.add_argument("files", nargs="+", type=Path)
    s = sub.add_parser("show", help="print a validated config")
    s.add_argument("file", type=Path)
    d = sub.add_parser("diff", help="compare the config on a board with the one in the repo")
    d.add_argument("file", type=Path)
    d.add_argument("--port", help="serial port of the board (default: the only one found)")


def config_main(args: argparse.Namespace) -> int:
    if args.config_cmd == "validate":
        bad = 0
        for f in args.files:
            try:
                load_and_validate(f)
                print(f"{f}: ok")
            except BoardConfigError as e:
                print(e, file=sys.stderr)
                bad += 1
        return 1 if bad else 0
    if args.config_cmd == "diff":
        return _diff(args)
    try:
        print(json.dumps(load_and_validate(args.file), indent=2))
    except BoardConfigError as e:
        print(e, file=sys.stderr)
        return 1
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
        sb = SerialBoard(port)
        try:
            board = json.loads(sb.get("/config.json"))
        finally:
            sb.close()
    except (TransportError, OSError, ValueError) as e:
        print(f"bourg config diff: cannot read /config.json from the board on {port}: {e}",
              file=sys.stderr)
        return 3
    lines = config_diff(repo, board)
    for line in lines:
        print(line)
    if not lines:
        print(f"{args.file}: the board on {port} has the same config")
    return 1 if lines else 0
