"""Board configs: every shipped config is valid; bad ones name the file, key path and reason."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from host_tools.boardconfig import BoardConfigError, load_and_validate, validate

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "board_configs").glob("*.json"))
GOOD = json.loads((Path(__file__).resolve().parents[1] / "board_configs" /
                   "fieldtest-01.json").read_text())


@pytest.mark.parametrize("path", [p for p in CONFIGS if p.name != "schema.json"],
                         ids=lambda p: p.name)
def test_shipped_configs_are_valid(path: Path) -> None:
    assert load_and_validate(path)["device_id"]


def _problems(cfg: dict) -> list[tuple[str, str]]:
    with pytest.raises(BoardConfigError) as e:
        validate(cfg, "x.json")
    return e.value.problems


def test_wrong_type_names_the_key_path() -> None:
    cfg = json.loads(json.dumps(GOOD))
    cfg["network"]["mqtt"]["port"] = "1883"
    assert _problems(cfg) == [("network.mqtt.port", "'1883' is not of type 'integer'")]


def test_flash_pins_and_shared_pins_are_refused() -> None:
    cfg = json.loads(json.dumps(GOOD))
    cfg["pins"] = {"led": 9, "relay": 4, "button": 4}
    paths = [p for p, _ in _problems(cfg)]
    assert "pins.led" in paths and "pins.button" in paths


def test_strapping_pin_is_a_warning_only() -> None:
    cfg = json.loads(json.dumps(GOOD))
    cfg["pins"]["led"] = 2
    assert any("strapping" in w for w in validate(cfg, "x.json"))


def test_cli_exit_codes(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": 1,\n "device_id": }')
    r = subprocess.run([sys.executable, "-m", "host_tools.cli", "config", "validate",
                        str(CONFIGS[0]), str(bad)], capture_output=True, text=True)
    assert r.returncode == 1
    assert f"{bad}: (top level): invalid JSON at line 2 column 15" in r.stderr
