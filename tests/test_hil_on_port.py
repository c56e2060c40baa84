"""`bourg hil --port`: the HIL suite pointed at a virtual board's pty as at a USB board."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


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
