"""`bourg doctor` and `bourg completion`: what a technician runs before going out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from host_tools.emulator import World
from host_tools.field import deploy, doctor
from host_tools.field.registry import Registry
from host_tools.testing.tls_secrets import board_tls

REPO = Path(__file__).resolve().parents[1]


def _bourg(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "host_tools.cli", *args], capture_output=True,
                          text=True, timeout=120, cwd=REPO, env={**os.environ, **(env or {})})


def test_a_registry_others_can_read_fails_the_doctor(tmp_path: Path) -> None:
    path = tmp_path / "reg.sqlite"
    Registry(path).close()
    assert _bourg("doctor", "--registry", str(path)).returncode == 0
    path.chmod(0o644)
    r = _bourg("doctor", "--json", env={"BOURG_REGISTRY": str(path)})
    assert r.returncode == 1
    reg = next(c for c in json.loads(r.stdout) if c["name"] == "registry")
    assert reg["status"] == "FAIL" and "chmod 600" in reg["detail"]


def test_the_doctor_opens_the_registry_it_checks(tmp_path: Path) -> None:
    """A 0600 file that is no registry passed as ok; a folder was told to chmod 600."""
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all" * 10)
    junk.chmod(0o600)
    assert doctor.check_registry(str(junk)).status == "FAIL"
    assert "not a file" in doctor.check_registry(str(tmp_path)).detail
    with Registry(tmp_path / "reg.sqlite") as reg:
        reg.add("pole-1", "lighting", "town")
    ok = doctor.check_registry(str(tmp_path / "reg.sqlite"))
    assert ok.status == "ok" and "1 device(s)" in ok.detail


def test_the_doctor_reads_a_board_and_leaves_its_app_running(tmp_path: Path) -> None:
    cfg = json.loads((REPO / "board_configs" / "fieldtest-01.json").read_text())
    with World(tmp_path / "w", access_points={"bourg-test": "test-wifi-pass"}) as world:
        b = world.add_board(cfg, {})
        b.start()
        b.wait_boot()
        bare = doctor.check_board(b.pty_path)
        assert bare.status == "warn" and "bourg not deployed" in bare.detail  # MicroPython 1.29
        deploy.deploy(b.pty_path, cfg, {"wifi_password": "test-wifi-pass",
                                        **board_tls(cfg["device_id"])})
        b.wait_output("app-ready", 15)
        mark = b.console_mark()
        c = doctor.check_board(b.pty_path)
        assert "bourg 0.1.0" in c.detail and "no /config.json" not in c.detail
        b.wait_output("app-ready", 20, start=mark)  # the app is back, by a soft reboot
        assert "WDT_RESET" not in b.history


def test_a_dead_port_is_a_failed_check_not_a_traceback() -> None:
    r = _bourg("doctor", "--port", "/dev/ttyUSB9")
    assert r.returncode == 1 and "Traceback" not in r.stderr + r.stdout
    assert "FAIL  board" in r.stdout and "no such serial port" in r.stdout


def test_completion_offers_the_parsers_commands_and_options(tmp_path: Path) -> None:
    script = tmp_path / "c.sh"
    script.write_text(_bourg("completion", "bash").stdout)
    probe = ('t() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]}-1)); COMPREPLY=(); '
             '_bourg; echo "${COMPREPLY[*]}"; }\n'
             't bourg prov\nt bourg provision rot\nt bourg deploy x.json --dr\n')
    out = subprocess.run(["bash", "-c", f"source {script}\n{probe}"], capture_output=True,
                         text=True, check=True).stdout.splitlines()
    assert out == ["provision", "rotate", "--dry-run"]
