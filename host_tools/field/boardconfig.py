"""Board configs on the host: the board's own validator, run on CPython.

Why the firmware's code: a config the host calls `ok` must boot on the board, and a config
the board refuses must not reach it. So `bourg config validate` (and deploy, provision,
emulate) runs the very files the board runs at boot: firmware/lib/bourg/configcheck.py with
the GPIO rules of firmware/lib/bourg/pins.py, and the role's app schema module (SCHEMA for the
"app" section, PINS for "pins"). board_configs/schema.json is an editor aid only.
"""

from __future__ import annotations

import copy
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from host_tools.build import fwmodules

REPO = Path(__file__).resolve().parents[2]
FIRMWARE = REPO / "firmware"
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


def _schema_module(role: object) -> ModuleType | None:
    if not isinstance(role, str) or role not in APP_SCHEMAS:
        return None
    folder, name = APP_SCHEMAS[role]
    return fwmodules.load(FIRMWARE / folder, (name,), name)


def validate_secrets(config: dict[str, Any], secrets: Any, file: str = "secrets.json") -> None:
    """The board's verdict on the secrets it would get (its app's keys included): raise
    BoardConfigError naming the key and reason, never the value, as the board's SAFE MODE
    would."""
    fw = firmware_config()
    mod = _schema_module(config.get("role"))
    spec = fw.secrets_schema(getattr(mod, "SECRETS", None))
    try:
        checked = fw.check_secrets(copy.deepcopy(secrets), spec)  # a copy: defaults filled in
        pair = getattr(mod, "SECRETS_CHECK", None)
        data = _checked_or_none(fw, config)
        if data is not None:  # a config the board refuses is validate()'s to report
            if getattr(mod, "USES_MQTT", True):
                fw.check_tls(data, checked)
            fw.check_pair(data, checked, pair, file)
    except fw.ConfigError as e:
        raise BoardConfigError(file, [(e.path, e.reason)]) from None
    if data is not None and data["network"]["mqtt"]["tls"] and getattr(mod, "USES_MQTT", True):
        from host_tools.field.site_ca import problems_with

        bad = problems_with(checked, data["device_id"])
        if bad:
            raise BoardConfigError(file, bad)


def _checked_or_none(fw: ModuleType, config: Any) -> dict[str, Any] | None:
    """`config` as the board holds it after its check (defaults filled in), or None if the
    board would refuse it."""
    role = config.get("role") if isinstance(config, dict) else None
    try:
        return fw.check(copy.deepcopy(config), fw.board_schema(*app_schemas(role)))[0]
    except fw.ConfigError:
        return None


def app_schemas(role: object) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(SCHEMA, PINS) of the app a board of `role` runs; (None, None) for an unknown role,
    which the board schema then refuses by name."""
    mod = _schema_module(role)
    return (None, None) if mod is None else (mod.SCHEMA, mod.PINS)


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


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number (MicroPython's json refuses it)")


def _finite(text: str) -> float:
    v = float(text)
    if v != v or v in (float("inf"), float("-inf")):
        _not_json(text)
    return v


def strict_json(text: str) -> Any:
    """JSON as the board's json.loads takes it: Python's also reads NaN, Infinity and
    numbers too big for a float (1e999, read as inf), which the board refuses, so a config
    the host passed would put the board in SAFE MODE. ValueError for those, and for nesting
    deeper than Python's recursion limit."""
    try:
        return json.loads(text, parse_constant=_not_json, parse_float=_finite)
    except RecursionError:
        raise ValueError("nested too deeply") from None


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
        return strict_json(text)
    except json.JSONDecodeError as e:
        raise BoardConfigError(str(path), [("", f"invalid JSON at line {e.lineno} column "
                                                f"{e.colno}: {e.msg}")]) from None
    except ValueError as e:
        raise BoardConfigError(str(path), [("", f"invalid JSON: {e}")]) from None


def load_and_validate(path: str | Path) -> dict[str, Any]:
    config = read(path)
    if is_json_schema(config):
        raise BoardConfigError(str(path), [("", "this is the JSON Schema for editors, not a "
                                                "board config")])
    for w in validate(config, str(path)):
        print(f"warning: {w}", file=sys.stderr)
    return config


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}: key paths, as errors name them."""
    if isinstance(obj, dict) and obj:
        out: dict[str, Any] = {}
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: obj}


@dataclass(frozen=True)
class Difference:
    """One key path whose value differs between the repo's config and the board's. A key
    found on one side only has `in_repo` or `on_board` False, and None as the other value."""

    key: str
    repo: Any
    board: Any
    in_repo: bool = True
    on_board: bool = True

    def line(self) -> str:
        """As `bourg config diff` prints it: -, + or ~ and the key, as a diff reads."""
        if not self.on_board:
            return f"- {self.key}: {json.dumps(self.repo)}   (only in the repo)"
        if not self.in_repo:
            return f"+ {self.key}: {json.dumps(self.board)}   (only on the board)"
        return f"~ {self.key}: repo {json.dumps(self.repo)}, board {json.dumps(self.board)}"

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "repo": self.repo, "board": self.board}


def config_differences(repo: dict[str, Any], board: dict[str, Any]) -> list[Difference]:
    """Key by key (flatten's paths, sorted), what differs between two configs: the one
    comparison behind both the text and the JSON of `bourg config diff`."""
    a, b = flatten(repo), flatten(board)
    return [Difference(k, a.get(k), b.get(k), k in a, k in b)
            for k in sorted(set(a) | set(b)) if k not in a or k not in b or a[k] != b[k]]
