"""The broker the fleet uses: per-device passwords, and an ACL that confines each device to its
own topics."""

from __future__ import annotations

import time

import paho.mqtt.client as mqtt
import pytest

from host_tools.mosquitto import Mosquitto, device_user
from host_tools.mqtt_watch import Watcher


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
    t0 = time.monotonic()
    while not codes and time.monotonic() - t0 < 5:
        time.sleep(0.05)
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
