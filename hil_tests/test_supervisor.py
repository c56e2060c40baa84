"""The runtime's supervisor feeds the hardware watchdog only while every watched task makes
progress; a stalled task (the rest of the board still running) gets the board reset, and the
next boot says which task it was."""

from __future__ import annotations

import json

import pytest

from host_tools.build import firmware
from host_tools.emulator import World
from host_tools.field.mosquitto import Mosquitto
from host_tools.field.mqtt_watch import Watcher

from .fleet import MQTT_HOST, WIFI, add_board, fieldtest_config

STALL_APP = """
import asyncio
from bourg import runtime


class Stall:
    def __init__(self, rt):
        self.rt = rt
        rt.sup.register("worker", 1500)

    def tasks(self):
        return [("worker", self.worker)]

    async def worker(self):
        for i in range(4):
            self.rt.sup.alive("worker")
            await asyncio.sleep_ms(300)
        print("worker stalls now")
        await asyncio.Event().wait()  # waits forever; every other task still runs


runtime.run(Stall, wdt_timeout_ms=2000)
"""


@pytest.mark.emulator_only
def test_stalled_task_starves_the_watchdog_and_is_reported(world: World,
                                                           mosquitto: Mosquitto) -> None:
    cfg = fieldtest_config("stall", port=mosquitto.port)
    b = add_board(world, mosquitto, cfg)
    b.stop()
    files = firmware.stage(cfg, {"wifi_password": WIFI[1],
                                 "mqtt_user": "bourg-stall",
                                 "mqtt_password": mosquitto.password("bourg-stall")})
    files["/main.py"] = STALL_APP
    b.install(files)
    world.dns[MQTT_HOST] = mosquitto.host
    ops = Watcher(mosquitto.host, mosquitto.port, user=mosquitto.ops_user,
                  password=mosquitto.ops_password)
    try:
        b.start()
        b.wait_output("worker stalls now", 10)
        b.wait_output("task 'worker' stuck", 5)
        b.wait_output("rst:0x7 \\(TG0WDT_SYS_RESET\\)", 10)
        assert b.history[:2] == ["PWRON_RESET", "WDT_RESET"]
        ops.wait_for(lambda ms: any(json.loads(m.payload).get("data", {}).get("stuck")
                                    == "worker" for m in ms if m.topic.endswith("/boot")), 20)
        boots = [json.loads(m.payload)["data"] for m in ops.on("/events/boot")]
        assert {"cause": "WDT_RESET", "stuck": "worker"}.items() <= boots[-1].items()
    finally:
        ops.close()
