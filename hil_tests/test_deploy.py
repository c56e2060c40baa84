"""`bourg deploy` against virtual boards over their pty, exactly as over USB."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from host_tools import deploy
from host_tools.emulator import World
from host_tools.serialboard import TransportError

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "board_configs" / "fieldtest-01.json"


def _bourg(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "host_tools.cli", *args], capture_output=True,
                          text=True, timeout=120)


def _blank(world: World):
    cfg = json.loads(CONFIG.read_text())
    b = world.add_board(cfg, {})
    b.start()
    b.wait_boot()
    return b, cfg


SECRETS = {"wifi_password": "test-wifi-pass"}


def test_deploy_copies_then_only_what_changed(world: World, tmp_path: Path) -> None:
    b, cfg = _blank(world)
    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps(SECRETS))
    r = _bourg("deploy", str(CONFIG), "--port", b.pty_path, "--json", "--secrets", str(secrets))
    assert r.returncode == 0, r.stderr
    first = json.loads(r.stdout)
    assert "/main.py" in first["copy"] and "/lib/bourg/runtime.mpy" in first["copy"]
    b.wait_output("app-ready", 15)  # the board rebooted into the deployed app

    r = _bourg("deploy", str(CONFIG), "--port", b.pty_path, "--json", "--no-reset")
    assert r.returncode == 0, r.stderr
    again = json.loads(r.stdout)
    assert again["copy"] == [] and again["remove"] == []  # the board's secrets are kept
    assert again["unchanged"] == len(first["copy"]) - 1

    changed = json.loads(CONFIG.read_text())
    changed["app"]["tick_ms"] = 1234
    cfg2 = tmp_path / "fieldtest-01.json"
    cfg2.write_text(json.dumps(changed))
    r = _bourg("deploy", str(cfg2), "--port", b.pty_path, "--json", "--dry-run")
    assert json.loads(r.stdout)["copy"] == ["/config.json"]


@pytest.mark.emulator_only
def test_board_that_stops_answering_keeps_its_previous_app(world: World) -> None:
    b, cfg = _blank(world)
    assert deploy.deploy(b.pty_path, cfg, SECRETS).copy
    b.wait_output("app-ready", 15)

    changed = json.loads(json.dumps(cfg))
    changed["app"]["tick_ms"] = 999

    def cut_midway(i: int, n: int, path: str) -> None:
        if i == 1:
            b.power_cut()

    with pytest.raises(TransportError):
        deploy.deploy(b.pty_path, changed, progress=cut_midway)
    files = b.read_flash()
    assert json.loads(files["/config.json"])["app"]["tick_ms"] == cfg["app"]["tick_ms"]
    b.power_on()
    b.wait_output("app-ready", 15, start=b.console_mark())


def test_wrong_port_and_invalid_config_fail_clearly(tmp_path: Path) -> None:
    r = _bourg("deploy", str(CONFIG), "--port", "/dev/ttyNOPE9")
    assert r.returncode == 2 and "no such serial port /dev/ttyNOPE9" in r.stderr
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"schema": 1, "device_id": "x"}))
    r = _bourg("deploy", str(bad), "--port", "/dev/null")
    assert r.returncode == 2 and "invalid config, nothing was copied" in r.stderr
    assert "'role' is a required property" in r.stderr


def test_config_diff_against_the_board(world: World, tmp_path: Path) -> None:
    b, cfg = _blank(world)
    assert deploy.deploy(b.pty_path, cfg, SECRETS, reset=False).copy
    r = _bourg("config", "diff", str(CONFIG), "--port", b.pty_path)
    assert r.returncode == 0, r.stderr
    assert "has the same config" in r.stdout
    changed = json.loads(CONFIG.read_text())
    changed["app"]["tick_ms"] = 42
    changed["pins"].pop("sda")
    cfg2 = tmp_path / "fieldtest-01.json"
    cfg2.write_text(json.dumps(changed))
    r = _bourg("config", "diff", str(cfg2), "--port", b.pty_path)
    assert r.returncode == 1
    assert "~ app.tick_ms: repo 42, board 5000" in r.stdout
    assert "+ pins.sda: 21   (only on the board)" in r.stdout


def test_deploy_brings_the_umqtt_the_tests_ran(tmp_path: Path) -> None:
    """The image's frozen umqtt.simple is another version and would shadow /lib/umqtt/simple:
    every board gets the pinned file under its own name, and the link runs on it."""
    with World(tmp_path / "w") as world:
        b, cfg = _blank(world)
        plan = deploy.deploy(b.pty_path, cfg, SECRETS)
        assert "/lib/umqtt_pinned.mpy" in plan.copy
        assert not any(p.startswith("/lib/umqtt/") for p in plan.copy)
        b.wait_output("app-ready", 15)
        assert "ImportError" not in b.output_text()


WDT_APP = """
import machine, time
w = machine.WDT(timeout=1000)
print('app running')
while True:
    w.feed()
    time.sleep_ms(100)
"""


@pytest.mark.emulator_only
def test_deploy_outlasts_the_apps_watchdog(world: World) -> None:
    """The app's machine.WDT keeps counting while deploy holds the board in the raw REPL;
    deploy gives it a long timeout first, so a copy slower than the app's 1 s timeout is not
    cut by a watchdog reset."""
    cfg = json.loads(CONFIG.read_text())
    b = world.add_board(cfg, {"main.py": WDT_APP})
    b.start()
    b.wait_output("app running", 5)

    def slow_copy(i: int, n: int, path: str) -> None:
        if i == 1:
            # hold the copy until the app's own timeout has passed unfed (the board's WDT
            # clock, not a fixed sleep); without the long timeout the board resets here
            import time

            end = time.monotonic() + 10
            while time.monotonic() - b._wdt_last < 1.5 and time.monotonic() < end:
                time.sleep(0.05)

    assert deploy.deploy(b.pty_path, cfg, SECRETS, progress=slow_copy).copy
    b.wait_output("app-ready", 15)
    assert b.history == ["PWRON_RESET", "HARD_RESET"]  # the deploy's reset, no WDT_RESET
