"""`bourg monitor` shows what a site's boards report, from a real broker."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from host_tools.emulator import World
from host_tools.field.mosquitto import Mosquitto

from .fleet import add_board, fieldtest_config


def test_monitor_reports_boards_and_boot_causes(world: World, mosquitto: Mosquitto,
                                                tmp_path: Path) -> None:
    b = add_board(world, mosquitto, fieldtest_config("ft-mon", port=mosquitto.port,
                                                     tick_ms=300, telemetry_ms=500))
    pw = tmp_path / "ops.txt"
    pw.write_text(mosquitto.ops_password)
    mon = subprocess.Popen([sys.executable, "-m", "host_tools.cli", "monitor", "--broker",
                            f"mqtt://127.0.0.1:{mosquitto.port}", "--site", "hil", "--user",
                            mosquitto.ops_user, "--password-file", str(pw), "--duration", "6",
                            "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    assert mon.stderr is not None
    assert "watching bourg/hil/#" in mon.stderr.readline()  # subscribed before the boot
    b.start()
    out, err = mon.communicate(timeout=60)
    assert mon.returncode == 0, err
    state = json.loads(out)["ft-mon"]
    assert state["status"] == "online"
    assert state["events"] >= 5 and state["boot_cause"] == "PWRON_RESET"
    assert state["telemetry"]["temp_c"] is None  # no TMP102 attached to this board
