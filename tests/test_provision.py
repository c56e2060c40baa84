"""`bourg provision`: the registry, its secrets and the broker files, through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "board_configs" / "fieldtest-01.json"


@pytest.fixture
def bourg(tmp_path: Path):
    reg = tmp_path / "reg" / "fleet.sqlite"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "host_tools.cli", "provision",
                               "--registry", str(reg), *args], capture_output=True, text=True,
                              timeout=60)
    run.registry = reg  # type: ignore[attr-defined]
    return run


def test_add_show_and_secrets_stay_private(bourg, tmp_path: Path) -> None:
    wifi = tmp_path / "wifi.txt"
    wifi.write_text("street-wifi-secret\n")
    assert bourg("site", "demo-town", "--ssid", "bourg-demo", "--wifi-password-file",
                 str(wifi)).returncode == 0
    r = bourg("add", str(CONFIG), "--unique-id", "240ac4100001", "--location", "Place 1")
    assert r.returncode == 0, r.stderr
    assert "registered fieldtest-01" in r.stdout
    assert bourg.registry.stat().st_mode & 0o077 == 0

    shown = json.loads(bourg("show", "fieldtest-01").stdout)
    assert shown["mqtt_user"] == "bourg-fieldtest-01" and "secrets" not in shown
    full = json.loads(bourg("show", "fieldtest-01", "--secrets").stdout)
    secrets = full["secrets"]
    assert secrets["wifi_password"] == "street-wifi-secret"
    assert len(secrets["mqtt_password"]) >= 24 and len(bytes.fromhex(secrets["espnow_key"])) == 16
    for out in (r.stdout, r.stderr, bourg("list").stdout, bourg("show", "fieldtest-01").stdout):
        assert secrets["mqtt_password"] not in out and "street-wifi-secret" not in out

    out = tmp_path / "s.json"
    assert bourg("secrets", "fieldtest-01", "--out", str(out)).returncode == 0
    assert out.stat().st_mode & 0o077 == 0
    assert json.loads(out.read_text()) == secrets


def test_duplicate_id_or_board_is_refused_and_changes_nothing(bourg, tmp_path: Path) -> None:
    assert bourg("add", str(CONFIG), "--unique-id", "aa").returncode == 0
    before = bourg("show", "fieldtest-01", "--secrets").stdout
    r = bourg("add", str(CONFIG), "--unique-id", "bb")
    assert r.returncode == 1 and "already registered" in r.stderr
    other = json.loads(CONFIG.read_text())
    other["device_id"] = "fieldtest-02"
    cfg2 = tmp_path / "ft2.json"
    cfg2.write_text(json.dumps(other))
    r = bourg("add", str(cfg2), "--unique-id", "aa")
    assert r.returncode == 1 and "already registered as 'fieldtest-01'" in r.stderr
    assert bourg("show", "fieldtest-01", "--secrets").stdout == before
    assert len(json.loads(bourg("list", "--json").stdout)) == 1


def test_rotate_replaces_keys(bourg) -> None:
    bourg("add", str(CONFIG))
    before = json.loads(bourg("show", "fieldtest-01", "--secrets").stdout)["secrets"]
    assert bourg("rotate", "fieldtest-01", "--key", "mqtt").returncode == 0
    after = json.loads(bourg("show", "fieldtest-01", "--secrets").stdout)["secrets"]
    assert after["mqtt_password"] != before["mqtt_password"]
    assert after["espnow_key"] == before["espnow_key"]


def test_invalid_config_registers_nothing(bourg, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": 1}')
    r = bourg("add", str(bad))
    assert r.returncode == 2 and "invalid config, nothing registered" in r.stderr
    assert json.loads(bourg("list", "--json").stdout) == []


def test_mosquitto_files_for_the_fleet(bourg, tmp_path: Path) -> None:
    bourg("add", str(CONFIG))
    out = tmp_path / "broker"
    assert bourg("mosquitto", "--out", str(out)).returncode == 0
    acl = (out / "acl").read_text()
    assert "user bourg-fieldtest-01\ntopic write bourg/demo-town/fieldtest-01/#" in acl
    assert (out / "passwd").read_text().startswith("bourg-fieldtest-01:$7$")
    assert (out / "passwd").stat().st_mode & 0o077 == 0
