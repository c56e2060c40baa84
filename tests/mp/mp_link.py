# MicroPython-side: the MQTT link with the real umqtt.simple against the in-memory broker
import gc
import json

from bourg.logring import LogRing
from bourg.mqtt_link import MqttLink
from fakebroker import Broker
import umqtt_pinned as simple

gc.collect()
base = gc.mem_alloc()
b = Broker()
simple.socket = b
P = "bourg/demo/pole-1/"


def make():
    return MqttLink(P, "h", 1883, 30, client_cls=simple.MQTTClient, queue_path="data/q",
                    ring=LogRing(console=False), rand=lambda: 0.0, client_id="pole-1")


def run(link, t0, t1):
    t = t0
    while t <= t1:
        link.step(t)
        t += 50


b.up = False
link = make()
for i in range(4):
    link.publish_event("tick", {"n": i})
run(link, 0, 2000)
assert not link.connected and link.status["queue"] == 4
link = make()  # "reboot"
b.up = True
got = []
link.on("ping", lambda n, m: got.append(m))
run(link, 0, 500)
ev = [json.loads(m) for t, m, q, r in b.events()]
assert [e["seq"] for e in ev] == [1, 2, 3, 4], ev
assert [e["data"]["n"] for e in ev] == [0, 1, 2, 3]
assert b.retained[P + "status"] == b"online"
b.inject(P + "cmd/ping", b"hi", qos=1)
run(link, 550, 700)
assert got == [b"hi"], got
b.kill()
assert b.retained[P + "status"] == b"offline"
link.publish_event("tick", {"n": 4})
run(link, 750, 5000)
assert link.connected and link.status["reconnects"] == 1
assert json.loads(b.events()[-1][1])["seq"] == 5
gc.collect()
print("heap used by link test:", gc.mem_alloc() - base)
print("ALL OK")
