"""Helpers to put provisioned virtual boards on a real broker in HIL tests."""

from __future__ import annotations

import json
from typing import Any

from host_tools.build import firmware
from host_tools.emulator import Board, World
from host_tools.field.mosquitto import Mosquitto, device_user

WIFI = ("bourg-test", "test-wifi-pass")
MQTT_HOST = "mqtt.hil.bourg"


def fieldtest_config(device_id: str, *, site: str = "hil", port: int = 1883,
                     **app: Any) -> dict[str, Any]:
    return {
        "schema": 1, "device_id": device_id, "role": "fieldtest", "site": site,
        "board": "esp32-devkitc", "pins": {"led": 25, "button": 4, "sda": 21, "scl": 22},
        "network": {"ssid": WIFI[0], "mqtt": {"host": MQTT_HOST, "port": port,
                                              "keepalive": 10, "tls": False}},
        "app": {"tick_ms": 5000, "telemetry_ms": 10000, **app},
    }


def add_board(world: World, broker: Mosquitto, config: dict[str, Any],
              **more_secrets: str) -> Board:
    """A board with its own broker account, its config and secrets on flash."""
    world.dns[MQTT_HOST] = broker.host
    password = broker.add_device(config["site"], config["device_id"])
    secrets = {"wifi_password": WIFI[1], "mqtt_user": device_user(config["device_id"]),
               "mqtt_password": password, **more_secrets}
    return world.add_board(config, firmware.stage(config, secrets))


def events(messages: list, kind: str) -> list[dict[str, Any]]:
    return [json.loads(m.payload) for m in messages if m.topic.endswith("/events/" + kind)]
