"""Every config in board_configs/ boots its role's app on a virtual board: schema.json checks
the shape on the host, but only the firmware knows each app's keys, so a shipped example
with a key the app refuses would put a technician's first board in safe mode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from host_tools.build import firmware
from host_tools.emulator import World
from host_tools.testing.rigs import by_role
from host_tools.testing.tls_secrets import board_tls

CONFIGS = sorted(p for p in (Path(__file__).resolve().parents[1] / "board_configs").glob("*.json")
                 if p.name != "schema.json")
KEY = bytes(range(32)).hex()


def _secrets(cfg: dict) -> dict:
    """Per-device secrets as bourg provision would write them (test values)."""
    s: dict = {"wifi_password": "pw"}
    role = cfg["role"]
    if role == "lighting":
        s["wave_key"] = KEY
    elif role == "locker":
        s["bank_key"] = KEY
    elif role == "parking_sensor":
        s["espnow_key"] = KEY[:32]
    elif role == "parking_totem":
        s["node_keys"] = {b["device"]: KEY[:32] for b in cfg["app"]["bays"]}
    if role != "parking_sensor":  # every board that reaches the broker talks TLS
        s.update(board_tls(cfg["device_id"]))
    return s


@pytest.mark.emulator_only
@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_a_shipped_config_boots_its_app(tmp_path: Path, path: Path) -> None:
    cfg = json.loads(path.read_text())
    with World(tmp_path / "w", access_points={cfg["network"]["ssid"]: "pw"}) as world:
        b = world.add_board(cfg, firmware.stage(cfg, _secrets(cfg)))
        devs = by_role.attach(b, cfg)  # as `bourg emulate` does
        b.start()
        b.wait_output(r"heap alloc \d+", 20)  # the app is up (SAFE MODE never gets there)
        assert "SAFE MODE" not in b.output_text(), b.output_text()[-2000:]
        seen = {label: show() for label, show in devs.shows.items()}
        if cfg["role"] == "parking_totem":  # nothing reported yet: nothing promised
            assert seen["display A"] == "[----]" and seen["guidance"] == "A01:off A02:off"
        if cfg["role"] == "locker":  # no code typed: no lock pulsed
            assert seen["unlocks"] == "1:0 2:0 3:0"
