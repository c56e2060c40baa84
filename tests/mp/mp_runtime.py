# needs: mpy -- MicroPython-side: runtime.main boots an app under asyncio, reports app-ready
import asyncio
import json

from bourg import runtime
from fakebroker import Broker
import umqtt_pinned as simple

b = Broker()
simple.socket = b
with open("config.json", "w") as f:
    f.write(json.dumps({"schema": 1, "device_id": "p1", "role": "lighting", "site": "s",
                        "board": "b",
                        "network": {"ssid": "x", "mqtt": {"host": "h", "tls": False}}}))
with open("secrets.json", "w") as f:
    f.write(json.dumps({"wifi_password": ""}))


class App:
    ticks = 0

    def __init__(self, rt):
        self.rt = rt

    def tasks(self):
        return [self.t()]

    async def t(self):
        while True:
            App.ticks += 1
            await asyncio.sleep_ms(10)


async def go():
    try:
        await asyncio.wait_for_ms(runtime.main(App, ".", link_kw={
            "client_cls": simple.MQTTClient, "queue_path": "data/q", "net_up": lambda: True}),
            800)
    except asyncio.TimeoutError:  # noqa: UP041 - MicroPython has its own class
        pass


asyncio.run(go())
assert App.ticks > 10
ev = [json.loads(m) for t, m, q, r in b.events()]
assert ev and ev[0]["data"]["msg"] == "app-ready", ev
print("ALL OK")
