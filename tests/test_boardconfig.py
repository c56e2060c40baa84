"""Board configs: every shipped config is valid; bad ones name the file, key path and reason,
and the host refuses what the board would refuse (it runs the board's validator)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from host_tools.field.boardconfig import (
    APP_SCHEMAS,
    BoardConfigError,
    Difference,
    config_differences,
    firmware_config,
    load_and_validate,
    validate,
)
from host_tools.testing.tls_secrets import board_tls

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted((REPO / "board_configs").glob("*.json"))
GOOD = json.loads((REPO / "board_configs" / "fieldtest-01.json").read_text())


def shipped(name: str) -> dict[str, Any]:
    return json.loads((REPO / "board_configs" / f"{name}.json").read_text())


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    # the timeout only ends a command that wrongly went on (an emulate that booted a board)
    return subprocess.run([sys.executable, "-m", "host_tools.cli", *args], capture_output=True,
                          text=True, cwd=REPO, check=False, timeout=120)


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
    assert _problems(cfg) == [("network.mqtt.port", 'expected int 1..65535, got "1883"')]


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def f(cfg: Any) -> None:
        *parents, last = path.split(".")
        for k in parents:
            cfg = cfg[int(k)] if k.isdigit() else cfg[k]
        cfg[int(last) if last.isdigit() else last] = value
    return f


def _rename(path: str, new: str) -> Callable[[dict[str, Any]], None]:
    def f(cfg: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for k in parents:
            cfg = cfg[k]
        cfg[new] = cfg.pop(last)
    return f


# Issue 18, point 1: each of these said `ok` on the host and put the board into SAFE MODE,
# or was never checked anywhere. (config, change, refused key path, words of the reason)
REFUSED = {
    "pwm-on-input-only-gpio35": ("pole-01", _set("pins.pwm", 35), "pins.pwm", "input-only"),
    "pwm-on-gpio1": ("pole-01", _set("pins.pwm", 1), "pins.pwm", "GPIO 1 is the USB serial"),
    "pwm-on-boot-glitch-gpio14": ("pole-01", _set("pins.pwm", 14), "pins.pwm",
                                  "glitches at boot"),
    "pir-misspelt-pri": ("pole-01", _rename("pins.pir", "pri"), "pins.pri", "unknown key"),
    "ahead-level-600": ("pole-01", _set("app.wave.ahead_level", 600), "app.wave.ahead_level",
                        "expected num 0..100, got 600"),
    "locker-lock-on-flash-gpio6": ("locker-01", _set("app.compartments.0.lock", 6),
                                   "app.compartments[0].lock", "SPI flash"),
    "misspelt-app-wave-spacng-m": ("pole-01", _rename("app.wave.spacing_m", "spacng_m"),
                                   "app.wave.spacng_m", "unknown key"),
    "misspelt-top-level-sitee": ("pole-01", _set("sitee", "demo-town"), "sitee",
                                 "unknown key"),
    "two-compartments-on-one-pin": ("locker-01", _set("app.compartments.1.lock", 16),
                                    "app.compartments[1].lock",
                                    "GPIO 16 is already used by app.compartments[0].lock"),
    "lock-on-a-keypad-row": ("locker-01", _set("app.compartments.0.lock", 32), "app.rows[0]",
                             "GPIO 32 is already used by app.compartments[0].lock"),
    "door-on-the-i2c-bus": ("locker-01", _set("app.compartments.0.door", 21), "pins.sda",
                            "GPIO 21 is already used by app.compartments[0].door"),
    "display-on-input-only": ("totem-01", _set("app.displays.0.clk", 36), "app.displays[0].clk",
                              "input-only"),
    "guidance-on-a-display-pin": ("totem-01", _set("app.guidance.pin", 18),
                                  "app.guidance.pin", "GPIO 18 is already used"),
    "row-names-no-bay": ("totem-01", _set("app.rows", [["A01", "B07"]]), "app.rows[0][1]",
                         "no bay 'B07' in app.bays"),
    "pin-that-does-not-exist": ("fieldtest-01", _set("pins.led", 24), "pins.led",
                                "GPIO 24 does not exist"),
    "unknown-pin-name": ("fieldtest-01", _set("pins.relay", 4), "pins.relay", "unknown key"),
    "fieldtest-unknown-app-key": ("fieldtest-01", _set("app.tick", 5), "app.tick",
                                  "unknown key"),
    "sensor-battery-on-adc2": ("ps-a01", _set("pins.battery_adc", 25), "pins.battery_adc",
                               "no ADC1 channel"),
    "sensor-unknown-detector-parameter": ("ps-a01", _set("app.detector", {"perp_onn": 2}),
                                          "app.detector.perp_onn", "unknown parameter"),
    "compartment-twice": ("locker-01", _set("app.compartments.1.n", 1),
                          "app.compartments[1].n", "compartment 1 is listed twice"),
    "unknown-emulator-key": ("pole-01", _set("emulator.z", 1), "emulator.z", "unknown key"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_host_refuses_what_the_board_refuses(case: str) -> None:
    name, change, path, words = REFUSED[case]
    cfg = shipped(name)
    change(cfg)
    ((got_path, reason),) = _problems(cfg)
    assert got_path == path and words in reason, (got_path, reason)


def test_the_board_refuses_them_too(tmp_path: Path) -> None:
    """The same cases through the board's boot path (config.load from files, on CPython here;
    tests/test_config_agreement.py runs it on the MicroPython VM)."""
    fw = firmware_config("config")
    from host_tools.build import fwmodules

    (tmp_path / "secrets.json").write_text('{"wifi_password": "x"}')
    for case in sorted(REFUSED):
        name, change, path, words = REFUSED[case]
        cfg = shipped(name)
        change(cfg)
        folder, module = APP_SCHEMAS[cfg["role"]]
        mod = fwmodules.load(REPO / "firmware" / folder, (module,), module)
        (tmp_path / "config.json").write_text(json.dumps(cfg))
        with pytest.raises(fw.ConfigError) as e:
            fw.load(str(tmp_path), mod.SCHEMA, pins_schema=mod.PINS)
        assert e.value.path == path and words in e.value.reason, case


def test_every_app_uses_the_schema_module_the_host_runs() -> None:
    """The host picks the app schema by role (APP_SCHEMAS); each app names that very module
    for the board's config check, so the two cannot drift apart."""
    apps = {"lighting": "pole_app.py", "locker": "locker_app.py",
            "parking_sensor": "sensor_app.py", "parking_totem": "totem_app.py",
            "fieldtest": "fieldtest_app.py"}
    assert set(apps) == set(APP_SCHEMAS)
    for role, (folder, module) in APP_SCHEMAS.items():
        src = (REPO / "firmware" / folder / apps[role]).read_text()
        assert (f'SCHEMA_MODULE = "{module}"' in src
                or f'schema_module="{module}"' in src), role


def test_the_editor_schema_names_the_same_keys_as_the_board() -> None:
    """schema.json is an editor aid only; it must not offer keys the board refuses."""
    doc = json.loads((REPO / "board_configs" / "schema.json").read_text())
    board = firmware_config().BOARD_SCHEMA["keys"]
    assert set(doc["properties"]) == set(board)
    assert doc["additionalProperties"] is False
    assert set(doc["properties"]["network"]["properties"]) == set(board["network"]["keys"])


def test_flash_pins_are_refused() -> None:
    cfg = json.loads(json.dumps(GOOD))
    cfg["pins"]["led"] = 9
    assert _problems(cfg) == [("pins.led", "GPIO 9 drives the SPI flash and cannot be used")]


def test_strapping_pin_is_a_warning_only() -> None:
    cfg = json.loads(json.dumps(GOOD))
    cfg["pins"]["led"] = 2
    assert any("pins.led: GPIO 2 is a strapping pin" in w for w in validate(cfg, "x.json"))


def test_i2c_lines_may_be_named_in_two_sections_but_not_swapped() -> None:
    cfg = shipped("pole-01")
    cfg["pins"]["scl"] = 21
    assert _problems(cfg) == [("pins.sda", "GPIO 21 is already used by pins.scl")]


def test_cli_exit_codes(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": 1,\n "device_id": }')
    r = _cli("config", "validate", str(CONFIGS[0]), str(bad))
    assert r.returncode == 1
    assert f"{bad}: (top level): invalid JSON at line 2 column 15" in r.stderr


def test_numbers_the_board_cannot_read_are_refused_on_the_host(tmp_path: Path) -> None:
    """Python's json reads NaN, Infinity and 1e999 (as inf); the board's json refuses them,
    so `config validate` said ok to a config that puts the board in SAFE MODE."""
    cfg = shipped("pole-01")
    cfg["app"]["x_m"] = 12345.5
    for text, why in (("NaN", "NaN is not a JSON number"),
                      ("-Infinity", "-Infinity is not a JSON number"),
                      ("1e999", "1e999 is not a JSON number")):
        path = tmp_path / "odd.json"
        path.write_text(json.dumps(cfg).replace("12345.5", text))
        r = _cli("config", "validate", str(path))
        assert r.returncode == 1, (text, r.stdout)
        assert f"{path}: (top level): invalid JSON: {why}" in r.stderr
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100000 + "]" * 100000)
    r = _cli("config", "validate", str(deep))
    assert r.returncode == 1 and "nested too deeply" in r.stderr and "Traceback" not in r.stderr


def test_validate_the_documented_glob_skips_the_schema_file() -> None:
    r = _cli("config", "validate", *[str(p.relative_to(REPO)) for p in CONFIGS])
    assert r.returncode == 0, r.stderr
    assert "board_configs/schema.json: skipped (the JSON Schema for editors" in r.stdout
    assert "Traceback" not in r.stderr
    assert r.stdout.count(": ok") == len(CONFIGS) - 1


def test_a_missing_file_is_bad_input_exit_2(tmp_path: Path) -> None:
    missing = tmp_path / "pole-99.json"
    r = _cli("config", "validate", str(CONFIGS[0]), str(missing))
    assert r.returncode == 2
    assert r.stderr.strip().endswith(f"{missing}: (top level): cannot read: No such file or "
                                     "directory")
    assert "Traceback" not in r.stderr
    assert _cli("config", "show", str(missing)).returncode == 2


# ---- secrets: the host refuses the secrets the board would refuse at boot -------------------
KEY = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"  # 16 bytes, as the registry makes radio keys
SHORT = "a1b2c3d4e5f6"  # a key too short to trust, which must never be echoed


TOTEM_TLS = board_tls("totem-01")


def _locker_secrets(**over: Any) -> dict[str, Any]:
    s = {"wifi_password": "w" * 12, "espnow_key": KEY, "bank_key": KEY * 2,
         **board_tls("locker-01")}
    s.update(over)
    return s


def test_good_secrets_pass_and_a_short_bank_key_is_refused_by_name_never_shown() -> None:
    from host_tools.field.boardconfig import validate_secrets

    validate_secrets(shipped("locker-01"), _locker_secrets())
    with pytest.raises(BoardConfigError) as e:
        validate_secrets(shipped("locker-01"), _locker_secrets(bank_key=SHORT), "s.json")
    assert e.value.problems[0][0] == "bank_key" and SHORT not in str(e.value)
    with pytest.raises(BoardConfigError) as e:
        validate_secrets(shipped("totem-01"), {"wifi_password": "w" * 12,
                                               "node_keys": {"ps-a01": SHORT}})
    assert e.value.problems[0][0] == "node_keys.ps-a01" and SHORT not in str(e.value)


def test_the_host_refuses_a_totem_whose_bay_has_no_key_as_the_board_would() -> None:
    from host_tools.field.boardconfig import validate_secrets

    with pytest.raises(BoardConfigError) as e:
        validate_secrets(shipped("totem-01"), {"wifi_password": "w" * 12, **TOTEM_TLS,
                                               "node_keys": {"ps-a01": KEY}})
    assert e.value.problems[0][0] == "node_keys.ps-a02" and KEY not in str(e.value)
    with pytest.raises(BoardConfigError) as e:  # a --secrets file under its own name
        validate_secrets(shipped("totem-01"), {"wifi_password": "w" * 12, **TOTEM_TLS,
                                               "node_keys": {"ps-a01": KEY}}, "/tmp/s.json")
    assert (e.value.file, e.value.problems[0][0]) == ("/tmp/s.json", "node_keys.ps-a02")
    validate_secrets(shipped("totem-01"), {"wifi_password": "w" * 12, **TOTEM_TLS,
                                           "node_keys": {"ps-a01": KEY, "ps-a02": KEY}})


@pytest.mark.parametrize("command", [["deploy", "--port", "/dev/ttyUSB9"], ["emulate"]])
def test_deploy_and_emulate_refuse_secrets_the_board_would_refuse(command: list[str],
                                                                 tmp_path: Path) -> None:
    bad = tmp_path / "secrets.json"
    bad.write_text(json.dumps(_locker_secrets(bank_key=SHORT)))
    extra = ["--workdir", str(tmp_path)] if command == ["emulate"] else []
    r = _cli(command[0], str(REPO / "board_configs" / "locker-01.json"), *command[1:],
             "--secrets", str(bad), *extra)
    assert r.returncode == 1, r.stderr
    assert "bank_key" in r.stderr and SHORT not in r.stderr + r.stdout
    assert "Traceback" not in r.stderr


def test_config_differences_key_by_key_for_text_and_json() -> None:
    """`config diff`'s one comparison: a key only in the repo, only on the board, or with
    another value; the text line and the JSON both come from it."""
    repo = {"a": {"b": 1, "c": 2}, "d": None}
    board = {"a": {"b": 1, "c": 3}, "e": "x"}
    diffs = config_differences(repo, board)
    assert diffs == [Difference("a.c", 2, 3), Difference("d", None, None, on_board=False),
                     Difference("e", None, "x", in_repo=False)]
    assert [d.line() for d in diffs] == ["~ a.c: repo 2, board 3",
                                         "- d: null   (only in the repo)",
                                         '+ e: "x"   (only on the board)']
    assert diffs[2].to_json() == {"key": "e", "repo": None, "board": "x"}
    assert config_differences(repo, repo) == []
