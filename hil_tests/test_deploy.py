"""`bourg deploy` against virtual boards over their pty, exactly as over USB."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from host_tools.emulator import Board, World
from host_tools.field import deploy
from host_tools.field.serialboard import SerialBoard, TransportError
from host_tools.testing.tls_secrets import board_tls

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "board_configs" / "fieldtest-01.json"


def _bourg(*args: str, cwd: Path | None = None,
           registry: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI as a technician runs it: from `cwd`, with $BOURG_REGISTRY only if given."""
    env = {k: v for k, v in os.environ.items() if k != "BOURG_REGISTRY"}
    if registry is not None:
        env["BOURG_REGISTRY"] = str(registry)
    return subprocess.run([sys.executable, "-m", "host_tools.cli", *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd, env=env)


def _blank(world: World):
    cfg = json.loads(CONFIG.read_text())
    b = world.add_board(cfg, {})
    b.start()
    b.wait_boot()
    return b, cfg


# fieldtest-01 talks TLS, as every shipped config does: its secrets carry the keys
SECRETS = {"wifi_password": "test-wifi-pass", **board_tls("fieldtest-01")}


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
    assert r.returncode == 1 and "invalid config, nothing was copied" in r.stderr  # a check
    assert f"{bad}: board: missing (expected str 1..40 chars)" in r.stderr  # the board's words


def test_config_diff_against_the_board(world: World, tmp_path: Path) -> None:
    b, cfg = _blank(world)
    assert deploy.deploy(b.pty_path, cfg, SECRETS, reset=False).copy
    r = _bourg("config", "diff", str(CONFIG), "--port", b.pty_path)
    assert r.returncode == 0, r.stderr
    assert "has the same config" in r.stdout
    changed = json.loads(CONFIG.read_text())
    changed["app"]["tick_ms"] = 4200  # a value the board accepts (100..3600000)
    changed["pins"].pop("sda")
    cfg2 = tmp_path / "fieldtest-01.json"
    cfg2.write_text(json.dumps(changed))
    r = _bourg("config", "diff", str(cfg2), "--port", b.pty_path)
    assert r.returncode == 1
    assert "~ app.tick_ms: repo 4200, board 5000" in r.stdout
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
            while b.world.clock.now() - b._wdt_last < 1.5 and time.monotonic() < end:
                time.sleep(0.05)

    assert deploy.deploy(b.pty_path, cfg, SECRETS, progress=slow_copy).copy
    b.wait_output("app-ready", 15)
    assert b.history == ["PWRON_RESET", "HARD_RESET"]  # the deploy's reset, no WDT_RESET


def _deployed(world: World) -> tuple[Board, dict[str, Any]]:
    """A field-test board running its app, as a technician finds one."""
    b, cfg = _blank(world)
    assert deploy.deploy(b.pty_path, cfg, SECRETS).copy
    b.wait_output("app-ready", 15)
    return b, cfg


def _on_board(b: Board) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
    """The board's file hashes, /config.json and /secrets.json (its app is put back)."""
    sb = SerialBoard(b.pty_path, restore_app=True)
    try:
        return (deploy.board_hashes(sb), json.loads(sb.get("/config.json")),
                json.loads(sb.get("/secrets.json")))
    finally:
        sb.close()


def _app_back_by_soft_reboot(b: Board, mark: int) -> None:
    """The app runs again after `mark`, started by a soft reboot, not by its watchdog."""
    b.wait_output("app-ready", 20, start=mark)
    assert b.history[-1] == "SOFT_RESET" and "WDT_RESET" not in b.history, b.history


def test_read_only_commands_put_the_app_back(world: World, tmp_path: Path) -> None:
    b, cfg = _deployed(world)
    for cmd in (("config", "diff", str(CONFIG)), ("deploy", str(CONFIG), "--dry-run")):
        mark = b.console_mark()
        r = _bourg(*cmd, "--port", b.pty_path, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        _app_back_by_soft_reboot(b, mark)


def _write_config(tmp_path: Path, device_id: str) -> Path:
    cfg = json.loads(CONFIG.read_text())
    cfg["device_id"] = device_id
    path = tmp_path / f"{device_id}.json"
    path.write_text(json.dumps(cfg))
    return path


def test_deploy_and_provision_refuse_another_board(world: World, tmp_path: Path) -> None:
    """The field-test board is on the port; fieldtest-02's config and keys must not go onto
    it unless the technician says --force, and then its old secrets do not stay."""
    b, _ = _deployed(world)
    reg = tmp_path / "reg.sqlite"
    other = _write_config(tmp_path, "fieldtest-02")
    mark = b.console_mark()
    r = _bourg("provision", "add", str(other), "--port", b.pty_path, registry=reg)
    assert r.returncode == 1 and "runs as 'fieldtest-01'" in r.stderr, r.stderr
    _app_back_by_soft_reboot(b, mark)
    r = _bourg("provision", "list", "--json", registry=reg)
    assert r.stdout.strip() in ("", "[]")  # nothing registered

    wifi = tmp_path / "wifi.txt"  # a site with WiFi: its secrets are ones a board accepts
    wifi.write_text("test-wifi-pass")
    assert _bourg("provision", "site", "demo-town", "--ssid", "bourg-test",
                  "--wifi-password-file", str(wifi), registry=reg).returncode == 0
    assert _bourg("provision", "add", str(other), "--unique-id", "240ac4ffffff",
                  registry=reg).returncode == 0
    mark = b.console_mark()
    r = _bourg("deploy", str(other), "--port", b.pty_path, registry=reg)
    assert r.returncode == 1 and "does not look like fieldtest-02" in r.stderr, r.stderr
    assert "runs as 'fieldtest-01'" in r.stderr and "registered with 240ac4ffffff" in r.stderr
    _app_back_by_soft_reboot(b, mark)
    _, config, secrets = _on_board(b)
    assert config["device_id"] == "fieldtest-01" and secrets == SECRETS

    r = _bourg("deploy", str(other), "--port", b.pty_path, "--force", registry=reg)
    assert r.returncode == 0, r.stderr
    b.wait_output("app-ready", 15)
    _, config, secrets = _on_board(b)
    assert config["device_id"] == "fieldtest-02"
    assert secrets["mqtt_user"] == "bourg-fieldtest-02"


def test_deploy_takes_rotated_secrets_from_the_registry_provision_uses(
        world: World, tmp_path: Path) -> None:
    """No --registry anywhere: provision and deploy both use registry/ where the technician
    stands (or $BOURG_REGISTRY), so a rotated key reaches the board."""
    b, _ = _blank(world)
    wifi = tmp_path / "wifi.txt"
    wifi.write_text("test-wifi-pass")
    for args in (("site", "demo-town", "--ssid", "bourg-test", "--wifi-password-file",
                  str(wifi)), ("add", str(CONFIG), "--port", b.pty_path)):
        r = _bourg("provision", *args, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
    r = _bourg("deploy", str(CONFIG), "--port", b.pty_path, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    b.wait_output("app-ready", 15)
    first = _on_board(b)[2]
    assert first["mqtt_user"] == "bourg-fieldtest-01" and first["wifi_password"]

    assert _bourg("provision", "rotate", "fieldtest-01", "--key", "mqtt",
                  cwd=tmp_path).returncode == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    mark = b.console_mark()
    r = _bourg("deploy", str(CONFIG), "--port", b.pty_path, cwd=elsewhere,
               registry=tmp_path / "registry" / "bourg-registry.sqlite")
    assert r.returncode == 0 and "copied 1 file(s)" in r.stdout, r.stderr
    b.wait_output("app-ready", 15, start=mark)
    second = _on_board(b)[2]
    assert second["mqtt_password"] != first["mqtt_password"]
    assert second["espnow_key"] == first["espnow_key"]


def _new_files(b: Board) -> list[str]:
    return sorted(p for p in _on_board(b)[0] if p.endswith(".new"))


def test_interrupted_deploy_keeps_the_old_app_and_cleans_up(world: World) -> None:
    b, cfg = _deployed(world)
    changed = json.loads(json.dumps(cfg))
    changed["app"]["tick_ms"] = 999

    def interrupt_after_two(i: int, n: int, path: str) -> None:
        if i == 2:
            raise KeyboardInterrupt

    mark = b.console_mark()
    with pytest.raises(deploy.DeployInterrupted, match="keeps its previous app"):
        deploy.deploy(b.pty_path, changed, SECRETS, compiled=False,
                      progress=interrupt_after_two)
    b.wait_output("app-ready", 20, start=mark)
    assert _new_files(b) == []
    assert _on_board(b)[1]["app"]["tick_ms"] == cfg["app"]["tick_ms"]


def test_next_deploy_finishes_what_an_interrupted_one_left(world: World,
                                                           tmp_path: Path) -> None:
    """Partial files a deploy could not remove (board unplugged at Ctrl-C): a complete one is
    used, a 0-byte one removed."""
    b, cfg = _deployed(world)
    changed = json.loads(json.dumps(cfg))
    changed["app"]["tick_ms"] = 777
    cfg2 = tmp_path / "fieldtest-01.json"
    cfg2.write_text(json.dumps(changed))
    staged = deploy.stage_bytes(changed, SECRETS, True)
    sb = SerialBoard(b.pty_path)
    try:
        sb.put("/config.json.new", staged["/config.json"])
        sb.put("/lib/bourg/runtime.py.new", b"")
    finally:
        sb.close()
    r = _bourg("deploy", str(cfg2), "--port", b.pty_path, "--no-reset", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert ("finished an interrupted deploy: 1 complete file(s) reused, the other 1 written "
            "again or removed") in r.stderr
    assert _new_files(b) == []
    assert _on_board(b)[1]["app"]["tick_ms"] == 777


def test_ctrl_c_mid_deploy_says_the_board_keeps_its_app(world: World, tmp_path: Path) -> None:
    b, cfg = _deployed(world)
    secrets = tmp_path / "s.json"
    secrets.write_text(json.dumps(SECRETS))
    env = {k: v for k, v in os.environ.items() if k != "BOURG_REGISTRY"}
    mark = b.console_mark()
    p = subprocess.Popen([sys.executable, "-m", "host_tools.cli", "deploy", str(CONFIG),
                          "--port", b.pty_path, "--source", "--secrets", str(secrets)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         cwd=tmp_path, env=env)
    assert p.stderr is not None
    err = ""
    for line in p.stderr:
        err += line
        if line.startswith("  [2/"):
            p.send_signal(signal.SIGINT)
            break
    err += p.stderr.read()
    assert p.wait(60) == 130
    assert "interrupted; nothing was switched over: the board keeps its previous app" in err
    assert "Traceback" not in err
    b.wait_output("app-ready", 20, start=mark)
    assert _new_files(b) == []
    hashes = _on_board(b)[0]
    assert "/lib/bourg/runtime.mpy" in hashes and "/lib/bourg/runtime.py" not in hashes


def test_deploy_without_secrets_refuses_a_board_that_has_none(world: World,
                                                               tmp_path: Path) -> None:
    """Run from a folder with no registry/, deploy has no secrets to give: a board that keeps
    its own /secrets.json is fine, a blank one would boot into SAFE MODE, so it is refused
    (exit 2) with nothing copied. The board's workdir, which will hold its keys, is 0700."""
    b, _ = _blank(world)
    assert b.dir.stat().st_mode & 0o077 == 0
    r = _bourg("deploy", str(CONFIG), "--port", b.pty_path, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert "no /secrets.json" in r.stderr and "Traceback" not in r.stderr
