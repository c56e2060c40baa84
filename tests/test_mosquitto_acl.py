"""The broker the fleet uses: per-device passwords, and an ACL that confines each device to its
own topics."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from host_tools.emulator.waiting import wait_until
from host_tools.field.mosquitto import (
    Mosquitto,
    device_user,
    free_port,
    mosquitto_binary,
    wait_listening,
)
from host_tools.field.mqtt_watch import Watcher


def _client(broker: Mosquitto, user: str, password: str) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=user)
    c.username_pw_set(user, password)
    rc = c.connect(broker.host, broker.port)
    assert rc == 0
    c.loop_start()
    return c


def test_device_publishes_only_under_its_own_topics(mosquitto: Mosquitto) -> None:
    pw1 = mosquitto.add_device("town", "pole-1")
    mosquitto.add_device("town", "pole-2")
    ops = Watcher(mosquitto.host, mosquitto.port, user=mosquitto.ops_user,
                  password=mosquitto.ops_password)
    try:
        time.sleep(0.3)
        dev = _client(mosquitto, device_user("pole-1"), pw1)
        dev.publish("bourg/town/pole-2/state", b"spoofed", qos=1).wait_for_publish(5)
        dev.publish("bourg/town/pole-1/state", b"mine", qos=1).wait_for_publish(5)
        ops.wait_for(lambda ms: any(m.payload == b"mine" for m in ms))
        time.sleep(0.3)
        assert [m.payload for m in ops.messages] == [b"mine"]
        dev.loop_stop()
        dev.disconnect()
    finally:
        ops.close()


def test_wrong_password_is_refused(mosquitto: Mosquitto) -> None:
    mosquitto.add_device("town", "pole-1")
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="intruder")
    c.username_pw_set(device_user("pole-1"), "guess")
    codes = []
    c.on_connect = lambda cl, u, f, rc, p=None: codes.append(rc)
    c.connect(mosquitto.host, mosquitto.port)
    c.loop_start()
    try:
        wait_until(lambda: codes, 5, "the broker's CONNACK")
    finally:
        c.loop_stop()
    assert codes and codes[0].is_failure


def test_kill_and_restart_keeps_the_port(mosquitto: Mosquitto) -> None:
    port = mosquitto.port
    mosquitto.kill()
    with pytest.raises(OSError):
        import socket

        socket.create_connection(("127.0.0.1", port), timeout=0.5)
    mosquitto.start()
    assert mosquitto.port == port


def test_broker_files_are_private(mosquitto: Mosquitto) -> None:
    for name in ("passwd", "acl", "mosquitto.conf"):
        assert (mosquitto.dir / name).stat().st_mode & 0o077 == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="mosquitto drops privileges only when root")
def test_provisioned_files_work_for_a_mosquitto_that_drops_to_its_user(tmp_path: Path) -> None:
    """`bourg provision mosquitto` as root hands passwd and acl to the mosquitto user; a
    mosquitto started as root, with no `user` line, drops to that user, reads them and
    accepts the device."""
    try:
        pwd.getpwnam("mosquitto")
    except KeyError:
        pytest.skip("no mosquitto user on this machine")
    reg = tmp_path / "reg.sqlite"
    out = Path(tempfile.mkdtemp(prefix="bourg-broker-"))  # /tmp: reachable by that user
    try:
        out.chmod(0o755)
        cfg = Path(__file__).resolve().parents[1] / "board_configs" / "fieldtest-01.json"
        cli = [sys.executable, "-m", "host_tools.cli", "provision"]
        assert subprocess.run([*cli, "add", str(cfg), "--registry", str(reg)]).returncode == 0
        r = subprocess.run([*cli, "mosquitto", "--out", str(out), "--registry", str(reg)],
                           capture_output=True, text=True)
        assert r.returncode == 0 and r.stderr == "", r.stderr
        for name in ("passwd", "acl"):
            st = (out / name).stat()
            assert pwd.getpwuid(st.st_uid).pw_name == "mosquitto" and st.st_mode & 0o077 == 0
        port = free_port()
        conf = out / "mosquitto.conf"
        conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous false\n"
                        f"password_file {out / 'passwd'}\nacl_file {out / 'acl'}\n"
                        "persistence false\n")
        proc = subprocess.Popen([mosquitto_binary(), "-c", str(conf)],
                                stderr=subprocess.PIPE, text=True)
        try:
            from host_tools.field.registry import Registry

            with Registry(reg) as rg:
                pw = rg.secrets("fieldtest-01")["mqtt_password"]
            broker = type("B", (), {"host": "127.0.0.1", "port": port})()
            wait_listening(proc, "127.0.0.1", port)
            dev = _client(broker, device_user("fieldtest-01"), pw)  # type: ignore[arg-type]
            dev.loop_stop()
            dev.disconnect()
        finally:
            proc.terminate()
            proc.wait(5)
    finally:
        shutil.rmtree(out)



def test_fleet_accounts_give_each_device_its_registry_password_and_ops_when_asked(
        tmp_path: Path) -> None:
    """What `bourg provision mosquitto` writes: one account per registered device with its
    own MQTT password, and bourg-ops only when an ops password is given."""
    from host_tools.field.mosquitto import OPS_USER, fleet_accounts
    from host_tools.field.registry import Registry

    with Registry(tmp_path / "reg.sqlite") as reg:
        reg.add("pole-1", "lighting", "town")
        reg.add("locker-1", "locker", "market")
        pw = {d: reg.secrets(d)["mqtt_password"] for d in ("pole-1", "locker-1")}
        without = fleet_accounts(reg)
        with_ops = fleet_accounts(reg, "ops-secret")
    assert without.passwords == {device_user(d): p for d, p in pw.items()}
    assert with_ops.passwords == {**without.passwords, OPS_USER: "ops-secret"}
    assert sorted(with_ops.devices) == [("bourg-locker-1", "market", "locker-1"),
                                        ("bourg-pole-1", "town", "pole-1")]
    passwd, acl = with_ops.write(tmp_path / "broker")
    assert f"user {OPS_USER}" in acl.read_text() and "bourg/market/locker-1/#" in acl.read_text()
    assert {line.split(":")[0] for line in passwd.read_text().splitlines()} == \
        set(with_ops.passwords)


def test_the_passwd_file_is_replaced_whole_and_no_password_goes_on_a_command_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`provision mosquitto` emptied passwd first and called `mosquitto_passwd -b FILE USER
    PASSWORD` per account: a failure or Ctrl-C half way left a broker that locks everyone
    out at its next restart, and `ps` showed each password to every local user. A rerun
    without --ops-password-file dropped the ops account."""
    from host_tools.field.mosquitto import OPS_USER, write_passwd

    path = tmp_path / "passwd"
    write_passwd(path, {"bourg-pole-1": "pole-secret", OPS_USER: "ops-secret"})
    assert path.stat().st_mode & 0o777 == 0o600
    lines = dict(line.split(":", 1) for line in path.read_text().splitlines())
    assert set(lines) == {"bourg-pole-1", OPS_USER}
    assert "secret" not in path.read_text()  # hashed
    calls: list[list[str]] = []
    real_run = subprocess.run

    def run(args, **kw):  # noqa: ANN001, ANN003, ANN202
        calls.append(list(args))
        return real_run(args, **kw)

    monkeypatch.setattr(subprocess, "run", run)
    write_passwd(path, {"bourg-pole-1": "pole-secret-2"}, keep=(OPS_USER,))
    assert all("secret" not in a for call in calls for a in call)
    again = dict(line.split(":", 1) for line in path.read_text().splitlines())
    assert again[OPS_USER] == lines[OPS_USER] and again["bourg-pole-1"] != lines["bourg-pole-1"]
    with pytest.raises(ValueError, match="':'"):  # -U would keep only "ab" of "ab:cd"
        write_passwd(path, {OPS_USER: "ab:cd"})
    before = path.read_bytes()
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))  # no mosquitto_passwd: it fails
    with pytest.raises(OSError):
        write_passwd(path, {"bourg-pole-1": "x"})
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == \
        ["passwd"]  # nor a plain copy beside it


def test_a_watcher_that_runs_for_days_keeps_only_the_latest_messages() -> None:
    """`bourg monitor` kept every message it ever saw: a session left running for days on a
    busy site grew without bound. Its Watcher keeps the latest `keep`; every message still
    reaches on_message."""
    from types import SimpleNamespace

    from host_tools.field.mosquitto import free_port
    from host_tools.field.mqtt_watch import Watcher

    seen: list[str] = []
    w = Watcher("127.0.0.1", free_port(), on_message=lambda m: seen.append(m.topic), keep=10)
    try:
        for i in range(100):  # as paho's thread hands them over
            w._message(w.client, None, SimpleNamespace(topic=f"bourg/s/d/state/{i}",  # type: ignore[arg-type]
                                                       payload=b"x", retain=False))
        assert len(seen) == 100
        assert 10 <= len(w.messages) <= 20 and w.messages[-1].topic == "bourg/s/d/state/99"
    finally:
        w.close()
