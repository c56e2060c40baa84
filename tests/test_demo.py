"""`bourg demo` end to end: virtual boards on the embedded broker, status drawn from MQTT."""

from __future__ import annotations

import re
import subprocess
import sys


def test_demo_boards_come_online_and_report() -> None:
    r = subprocess.run([sys.executable, "-m", "host_tools.cli", "demo", "--duration", "8",
                        "--plain"], capture_output=True, text=True, timeout=90)
    assert r.returncode == 0, r.stderr
    last = r.stdout.split("bourg demo - ")[-1]
    for name in ("ft-north", "ft-market", "ft-station"):
        row = re.search(rf"^{name}\s+running\s+up\s+online\s+1\s+(\d+)", last, re.M)
        assert row, f"{name} not online in:\n{last}"
        assert int(row.group(1)) >= 1, f"{name} delivered no event:\n{last}"


def test_demo_rejects_a_bad_broker_url() -> None:
    r = subprocess.run([sys.executable, "-m", "host_tools.cli", "demo", "--broker",
                        "http://x"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert "mqtt://host:port" in r.stderr
