"""The technician's path end to end on a blank virtual board, over its pty:
provision -> mosquitto accounts -> deploy -> the board boots -> it connects with its own
credentials, and the broker confines it to its own topics."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from host_tools.emulator import World
from host_tools.field.mosquitto import Mosquitto, free_port
from host_tools.field.mqtt_watch import Watcher
from host_tools.field.serialboard import SerialBoard

REPO = Path(__file__).resolve().parents[1]


def _bourg(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "host_tools.cli", *args], capture_output=True,
                          text=True, timeout=120)


def test_provision_deploy_boot_connect(world: World, tmp_path: Path) -> None:
    port = free_port()
    cfg = json.loads((REPO / "board_configs" / "fieldtest-01.json").read_text())
    cfg["network"] = {"ssid": "bourg-test",
                      "mqtt": {"host": "mqtt.hil.bourg", "port": port, "keepalive": 10,
                               "tls": False}}
    cfg_path = tmp_path / "fieldtest-01.json"
    cfg_path.write_text(json.dumps(cfg))
    reg = str(tmp_path / "registry.sqlite")
    wifi = tmp_path / "wifi.txt"
    wifi.write_text("test-wifi-pass")
    ops_pw = tmp_path / "ops.txt"
    ops_pw.write_text("ops-secret")

    board = world.add_board(cfg, {})
    board.start()
    board.wait_boot()

    def ok(r: subprocess.CompletedProcess[str]) -> str:
        assert r.returncode == 0, r.stderr
        return r.stdout

    ok(_bourg("provision", "--registry", reg, "site", cfg["site"], "--ssid", "bourg-test",
              "--wifi-password-file", str(wifi)))
    out = ok(_bourg("provision", "--registry", reg, "add", str(cfg_path), "--port",
                    board.pty_path))
    assert f"unique_id {board.mac.hex()}" in out  # read from the board itself
    ok(_bourg("provision", "--registry", reg, "mosquitto", "--out", str(tmp_path / "broker"),
              "--ops-password-file", str(ops_pw)))

    broker_files = (tmp_path / "broker" / "passwd", tmp_path / "broker" / "acl")
    with Mosquitto(tmp_path / "mosq", port=port, account_files=broker_files) as broker:
        world.dns["mqtt.hil.bourg"] = broker.host
        ops = Watcher(broker.host, port, user="bourg-ops", password="ops-secret")
        try:
            ok(_bourg("deploy", str(cfg_path), "--port", board.pty_path, "--registry", reg))
            # caps for a loaded CI host (4 s alone; one fresh-clone run timed out at 15 s)
            board.wait_output("app-ready", 30)
            ops.wait_for(lambda ms: any(m.topic == "bourg/demo-town/fieldtest-01/status" and
                                        m.payload == b"online" for m in ms), 30)
            ops.wait_for(lambda ms: any("/events/boot" in m.topic for m in ms), 20)

            # The board, with its own credentials, tries to speak for another device.
            sb = SerialBoard(board.pty_path)
            try:
                sb.exec(
                    "import json\nfrom umqtt_pinned import MQTTClient\n"
                    "s = json.load(open('/secrets.json'))\n"
                    f"c = MQTTClient('intruder', 'mqtt.hil.bourg', {port}, s['mqtt_user'], "
                    "s['mqtt_password'])\n"
                    "c.connect()\n"
                    "c.publish(b'bourg/demo-town/other-pole/state', b'spoofed')\n"
                    "c.publish(b'bourg/demo-town/fieldtest-01/probe', b'mine')\n"
                    "c.disconnect()\n")
            finally:
                sb.close()
            # mosquitto forwards one client's messages in order: had the spoofed one passed
            # the ACL, it would have arrived before "mine"
            ops.wait_for(lambda ms: any(m.payload == b"mine" for m in ms), 10)
            assert not [m for m in ops.messages if m.payload == b"spoofed"]
        finally:
            ops.close()
