"""`bourg emulate`: prints the pty first, and mpremote works against it."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_emulate_prints_pty_first_and_mpremote_talks_to_it(tmp_path: Path) -> None:
    p = subprocess.Popen([sys.executable, "-m", "host_tools.cli", "emulate",
                          str(REPO / "board_configs" / "fieldtest-01.json"), "--blank",
                          "--quiet", "--workdir", str(tmp_path)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None
        first = p.stdout.readline().strip()
        assert first.startswith("pty: /dev/"), first
        port = first.split(" ", 1)[1]
        r = subprocess.run([sys.executable, "-m", "mpremote", "connect", port, "exec",
                            "import machine; print(machine.reset_cause(), 6 * 7)"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "1 42"
    finally:
        p.send_signal(signal.SIGINT)
        assert p.wait(15) == 0
