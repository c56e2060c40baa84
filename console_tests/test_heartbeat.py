"""The heartbeat: polls first, judges a board only from when it began polling it, and keeps
polling whatever else fails."""

from __future__ import annotations

import json
from pathlib import Path

from bourg_console.db import open_engine
from bourg_console.heartbeat import Heartbeat
from bourg_console.notify import Notifier, Policy
from bourg_console.store import Store
from bourg_console.topics import parse
from host_tools.locker.sms import Delivery


class Client:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def publish(self, topic: str, payload: bytes, qos: int = 0) -> None:
        self.sent.append(topic)


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _store(tmp_path: Path) -> Store:
    s = Store(open_engine(str(tmp_path / "c.sqlite")))
    s.apply(parse("bourg/town/pole-01/info", json.dumps({"role": "lighting"}).encode()), 0.0)
    return s


def test_a_restarted_console_raises_nobody_before_polling_them(tmp_path: Path) -> None:
    store, clock, client = _store(tmp_path), Clock(100_000.0), Client()
    hb = Heartbeat(store, client, "town", poll_s=10, missed=2, now=clock)  # type: ignore[arg-type]
    hb.tick()  # the board was last heard a day ago, before this console started
    assert client.sent == ["bourg/town/pole-01/cmd/status"]
    assert store.alarms(standing=True) == []
    clock.t += 20.5  # two polls unanswered since this console began
    hb.tick()
    assert [a["kind"] for a in store.alarms(standing=True)] == ["offline"]


class BrokenModem:
    name = "gsm"

    def send(self, to: str, text: str, idem: str) -> Delivery:
        raise OSError(5, "Input/output error")  # the USB modem was pulled out


def test_a_broken_modem_does_not_stop_the_polls(tmp_path: Path) -> None:
    store, clock, client = _store(tmp_path), Clock(0.0), Client()
    notifier = Notifier(store, BrokenModem(), Policy(("+33600000001",)), "town")
    hb = Heartbeat(store, client, "town", poll_s=10, missed=1, now=clock,  # type: ignore[arg-type]
                   notifier=notifier)
    for _ in range(4):
        clock.t += 10.5
        hb.tick()
    assert len(client.sent) == 4  # every beat polled
    [a] = store.alarms(standing=True)
    assert [h["status"] for h in notifier.history(a["id"])] == ["failed"] * 4  # each beat
