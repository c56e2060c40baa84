"""`bourg hil --port`: the HIL suite pointed at a virtual board's pty as at a USB board."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from host_tools.emulator import World
from host_tools.field import deploy
from host_tools.testing.tls_secrets import board_tls

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_hil_suite_runs_against_a_board_on_a_port(tmp_path: Path) -> None:
    emu = subprocess.Popen([sys.executable, "-m", "host_tools.cli", "emulate",
                            str(REPO / "board_configs" / "fieldtest-01.json"), "--blank",
                            "--quiet", "--workdir", str(tmp_path / "emu")],
                           stdout=subprocess.PIPE, text=True)
    try:
        assert emu.stdout is not None
        port = emu.stdout.readline().split(" ", 1)[1].strip()
        r = subprocess.run([sys.executable, "-m", "host_tools.cli", "hil", "--port", port,
                            "--", "-q", "-rA"],
                           capture_output=True, text=True, timeout=300, cwd=REPO)
        assert r.returncode == 0, r.stdout[-3000:]
        assert "PASSED hil_tests/test_board_basics.py::test_mpremote_round_trip" in r.stdout
        assert "failed" not in r.stdout.strip().splitlines()[-1]
    finally:
        emu.send_signal(signal.SIGINT)
        emu.wait(15)


def test_hil_on_a_port_puts_the_boards_app_back(tmp_path: Path) -> None:
    """The tests stop the app to reach the REPL; afterwards `bourg hil` starts it again by a
    soft reboot instead of leaving the board at the prompt for its watchdog to reset."""
    cfg = json.loads((REPO / "board_configs" / "fieldtest-01.json").read_text())
    with World(tmp_path / "w", access_points={"bourg-test": "test-wifi-pass"}) as world:
        b = world.add_board(cfg, {})
        b.start()
        b.wait_boot()
        deploy.deploy(b.pty_path, cfg, {"wifi_password": "test-wifi-pass",
                                        **board_tls(cfg["device_id"])})
        b.wait_output("app-ready", 15)
        mark = b.console_mark()
        r = subprocess.run([sys.executable, "-m", "host_tools.cli", "hil", "--port", b.pty_path,
                            "-k", "test_exec_reports_board_exceptions", "--", "-q"],
                           capture_output=True, text=True, timeout=300, cwd=REPO)
        assert r.returncode == 0, r.stdout[-3000:]
        b.wait_output("app-ready", 20, start=mark)
        assert b.history[-1] == "SOFT_RESET" and "WDT_RESET" not in b.history, b.history
