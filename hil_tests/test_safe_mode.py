"""A board with a bad config enters safe mode and says why, on the console and over MQTT."""

from __future__ import annotations

import itertools
import json
import re

import pytest

from host_tools.emulator import World
from host_tools.field.mosquitto import Mosquitto
from host_tools.field.mqtt_watch import Watcher

from .fleet import add_board, fieldtest_config


@pytest.mark.emulator_only
def test_invalid_config_gives_safe_mode_reported_over_mqtt(world: World,
                                                           mosquitto: Mosquitto) -> None:
    cfg = fieldtest_config("ft-bad", port=mosquitto.port, tick_ms="fast")
    b = add_board(world, mosquitto, cfg)
    ops = Watcher(mosquitto.host, mosquitto.port, user=mosquitto.ops_user,
                  password=mosquitto.ops_password)
    try:
        b.start()
        b.wait_output("SAFE MODE", 10)
        b.wait_output(re.escape("config.json: app.tick_ms: expected int"), 5)
        ops.wait_for(lambda ms: any(m.topic == "bourg/hil/ft-bad/state" for m in ms), 15)
        state = json.loads(ops.on("/state")[-1].payload)
        assert state["mode"] == "safe" and "app.tick_ms" in state["error"]
        assert b.outputs[25]["v"] == 1  # the fieldtest app's safe output: LED held on
        assert b.history == ["PWRON_RESET"]  # no boot loop
    finally:
        ops.close()


@pytest.mark.emulator_only
def test_link_delay_slows_but_keeps_the_link(world: World, mosquitto: Mosquitto) -> None:
    b = add_board(world, mosquitto, fieldtest_config("ft-slow", port=mosquitto.port,
                                                     tick_ms=100))
    ops = Watcher(mosquitto.host, mosquitto.port, user=mosquitto.ops_user,
                  password=mosquitto.ops_password)
    try:
        b.link.delay(400)  # each way: a PUBACK comes back 800 ms after its PUBLISH left
        b.start()
        ops.wait_for(lambda ms: len([m for m in ms if "/events/tick" in m.topic]) >= 4, 30)
        # one event in flight: the next leaves when the last one's PUBACK is back, so ticks
        # made every 100 ms pass the board's link 800 ms apart, on the world's clock as the
        # link carried them (0x32: a QoS 1 PUBLISH, which only events are)
        sent = [t for t, to_board, first in b.link.carried if not to_board and first == 0x32]
        gaps = [later - t for t, later in itertools.pairwise(sent)]
        assert len(gaps) >= 3 and min(gaps) >= 0.75, gaps
        assert b.link.connections_made == 1  # slowed, never dropped
    finally:
        ops.close()
