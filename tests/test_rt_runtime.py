"""bourg.runtime: WiFi state machine, full boot with a fake app/broker, and SAFE MODE."""
import asyncio
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "mp"))
import itertools

import hostsetup
import pytest
from bourg import runtime
from bourg.logring import LogRing, log
from bourg.runtime import Wifi

pytestmark = pytest.mark.skipif(not hostsetup.umqtt_available(), reason="no umqtt")

BOARD = {"schema": 1, "device_id": "pole-7", "role": "fieldtest", "site": "demo",
         "board": "esp32-devkitc", "pins": {},
         "network": {"ssid": "street", "mqtt": {"host": "b", "port": 1883, "keepalive": 30,
                                                     "tls": False}},
         "app": {"n": 1}}


class FakeWlan:
    def __init__(self):
        self.ok_after = None
        self.calls = []
        self.connected = False

    def isconnected(self):
        return self.connected

    def active(self, on):
        self.calls.append(("active", on))

    def connect(self, ssid, pw):
        self.calls.append(("connect", ssid, pw))

    def disconnect(self):
        self.calls.append(("disconnect",))

    def ifconfig(self):
        return ("10.0.0.9", "", "", "")


def test_wifi_timeout_backoff_and_recovery():
    w = FakeWlan()
    ring = LogRing(console=False)
    wifi = Wifi("street", "pw-123456", ring, connect_timeout_ms=5000, wlan=w)
    connects = []
    for t in range(0, 60000, 100):
        n = len(w.calls)
        wifi.step(t)
        if any(c[0] == "connect" for c in w.calls[n:]):
            connects.append(t)
    gaps = [b - a for a, b in itertools.pairwise(connects)]
    assert connects[0] == 0 and all(g >= 5000 + 1000 for g in gaps)
    assert gaps == sorted(gaps)  # backing off
    w.connected = True
    assert wifi.step(60000) and wifi.isconnected()
    assert "pw-123456" not in json.dumps(ring.dump())
    assert any("connected to street ip 10.0.0.9" in e["msg"] for e in ring.dump())


def test_wifi_without_network_module():
    wifi = Wifi("x", "", LogRing(console=False))
    assert wifi._wlan is None and not wifi.isconnected() and wifi.step(0) is False


def _root(tmp_path, board):
    with open(tmp_path / "config.json", "w") as f:
        json.dump(board, f)
    with open(tmp_path / "secrets.json", "w") as f:
        json.dump({"wifi_password": "wifi-pw-1"}, f)
    return str(tmp_path)


async def _run_for(coro, seconds):
    try:
        await asyncio.wait_for(coro, seconds)
    except TimeoutError:
        pass


MADE = []
SAFE = []


class App:
    SCHEMA = {"type": "dict", "keys": {"n": {"type": "int", "min": 0}}}  # noqa: RUF012

    def __init__(self, rt):
        self.rt = rt
        self.ticks = 0
        self.crashes = 0
        MADE.append(self)

    def tasks(self):
        return [("ticker", self.ticker()), ("flaky", self.flaky)]

    async def ticker(self):
        self.rt.sup.register("ticker", 5000)
        while True:
            self.ticks += 1
            self.rt.sup.alive("ticker")
            await asyncio.sleep(0.01)

    async def flaky(self):
        self.crashes += 1
        raise RuntimeError("boom")

    @staticmethod
    def safe_mode(err):
        SAFE.append(str(err))


def _broker():
    import umqtt_pinned as simple
    from fakebroker import Broker

    b = Broker()
    simple.socket = b
    return b, simple


def test_an_app_task_that_never_reports_alive_keeps_the_watchdog_fed_past_48_hours():
    """guard watches app tasks for crashes only; a silence window (say 24 h) would stop
    feeding the WDT on every healthy board once a day."""
    from bourg import compat
    from bourg.supervisor import Supervisor

    async def quiet():
        await asyncio.sleep(3600)

    async def scenario():
        sup = Supervisor()
        task = asyncio.create_task(runtime.guard("app0", quiet, sup, LogRing(console=False)))
        await asyncio.sleep(0)
        now = compat.ticks_ms()
        try:
            assert sup.names() == ["app0"]
            for hours in (1, 23, 25, 49):
                assert sup.check(compat.ticks_add(now, hours * 3600000)) == (True, None)
        finally:
            task.cancel()

    asyncio.run(scenario())


def test_main_boots_app_and_reports_ready(tmp_path):
    b, simple = _broker()
    root = _root(tmp_path, BOARD)
    kw = {"client_cls": simple.MQTTClient, "queue_path": str(tmp_path / "data" / "q"),
          "net_up": lambda: True}
    MADE.clear()
    asyncio.run(_run_for(runtime.main(App, root, link_kw=kw), 1.5))
    app = MADE[0]
    assert app.ticks > 10 and app.crashes >= 1  # the coroutine function was restarted
    assert app.rt.cfg["app"] == {"n": 1}
    p = "bourg/demo/pole-7/"
    assert b.retained[p + "status"] == b"online"
    assert json.loads(b.retained[p + "info"])["role"] == "fieldtest"
    ev = [json.loads(m) for t, m, q, r in b.events()]
    assert ev and ev[0]["kind"] == "log" and ev[0]["data"]["msg"] == "app-ready"
    assert any(e[3] == "app-ready" for e in [x[1] for x in log.entries()])


def test_builtin_commands(tmp_path):
    b, simple = _broker()
    root = _root(tmp_path, BOARD)
    kw = {"client_cls": simple.MQTTClient, "queue_path": str(tmp_path / "data" / "q"),
          "net_up": lambda: True}
    p = "bourg/demo/pole-7/"

    async def scenario():
        task = asyncio.ensure_future(runtime.main(App, root, link_kw=kw))
        await asyncio.sleep(0.3)
        b.inject(p + "cmd/status", b"")
        b.inject(p + "cmd/settings", b'{"app": {"n": 5}}')
        b.inject(p + "cmd/settings", b'{"app": {"n": -1}}')
        b.inject(p + "cmd/log", b"")
        await asyncio.sleep(0.5)
        task.cancel()

    asyncio.run(scenario())
    replies = {}
    for t, m, _q, _r in b.published:
        if "/reply/" in t:
            replies.setdefault(t.split("/reply/")[1], []).append(json.loads(m))
    assert replies["status"][0]["connected"] is True
    assert replies["settings"][0] == {"ok": True, "settings": {"app": {"n": 5}}}
    assert replies["settings"][1]["ok"] is False
    assert "app.n: expected int >= 0, got -1" in replies["settings"][1]["error"]
    assert replies["log"][0]["lines"]
    with open(os.path.join(root, "settings.json")) as f:
        assert json.load(f) == {"app": {"n": 5}}


def test_safe_mode_reports_config_error(tmp_path):
    b, simple = _broker()
    bad = json.loads(json.dumps(BOARD))
    bad["app"] = {"n": "many"}
    root = _root(tmp_path, bad)
    kw = {"client_cls": simple.MQTTClient, "queue_path": str(tmp_path / "data" / "q"),
          "net_up": lambda: True}
    SAFE.clear()
    MADE.clear()
    asyncio.run(_run_for(runtime.main(App, root, link_kw=kw), 1.0))
    assert MADE == []
    assert SAFE == ['config.json: app.n: expected int >= 0, got "many"']
    p = "bourg/demo/pole-7/"
    st = json.loads(b.retained[p + "state"])
    assert st["mode"] == "safe" and "app.n" in st["error"]
    ev = [json.loads(m) for t, m, q, r in b.events()]
    assert ev[0]["kind"] == "config_error"


def test_an_image_older_than_the_pinned_one_gives_safe_mode(tmp_path, monkeypatch):
    """v1.24.1 lacks PWM(invert=): a pole would boot-loop on it. The runtime refuses it."""
    b, simple = _broker()
    root = _root(tmp_path, BOARD)
    kw = {"client_cls": simple.MQTTClient, "queue_path": str(tmp_path / "data" / "q"),
          "net_up": lambda: True}
    monkeypatch.setattr(runtime, "implementation", lambda: ("micropython", (1, 24, 1, "")))
    SAFE.clear()
    MADE.clear()
    asyncio.run(_run_for(runtime.main(App, root, link_kw=kw), 1.0))
    assert MADE == []
    assert SAFE == ["MicroPython 1.24.1 is older than the image this firmware needs: "
                    "flash ESP32_GENERIC v1.28.0"]
    st = json.loads(b.retained["bourg/demo/pole-7/state"])
    assert st["mode"] == "safe" and "1.24.1" in st["error"]


def test_image_check():
    from bourg import IMAGE_VERSION, image_check

    assert image_check("cpython", (3, 11, 7)) == (True, None)
    assert image_check("micropython", IMAGE_VERSION + ("",)) == (True, None)
    ok, note = image_check("micropython", (1, 29, 0, "preview"))
    assert ok and "newer" in note
    assert image_check("micropython", (1, 27, 9))[0] is False


def test_safe_mode_without_usable_network(tmp_path, capsys):
    b, _simple = _broker()
    with open(tmp_path / "config.json", "w") as f:
        f.write("{broken")
    asyncio.run(_run_for(runtime.main(App, str(tmp_path)), 0.3))
    out = capsys.readouterr().out
    assert "SAFE MODE: config.json: invalid JSON" in out and "no usable network" in out
    assert b.connects == []
