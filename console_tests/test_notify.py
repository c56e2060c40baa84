"""On-call staff told of alarms by SMS: once when raised, the escalation numbers when nobody
acknowledges in time, a reminder while a board stays offline; a failed send is retried and
nobody gets one message twice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bourg_console.db import open_engine
from bourg_console.notify import Due, Notifier, Policy, due
from bourg_console.store import Store
from bourg_console.topics import parse
from host_tools.locker.sms import Delivery, Outbox, SmsError

ON_CALL, BOSS = "+33600000001", "+33600000002"
POLICY = Policy((ON_CALL,), (BOSS,), escalate_after_s=900, remind_every_s=3600)


def _alarm(**kw: object) -> dict:
    base = {"id": 1, "kind": "door_open", "device": "pole-01", "raised_at": 1000.0,
            "acked_at": None, "cleared_at": None, "notified_at": None, "escalated_at": None,
            "reminded_at": None, "reminders": 0}
    base.update(kw)
    return base


def test_what_is_owed_and_when() -> None:
    assert due(_alarm(), 1000.0, POLICY) == [Due("raised", (ON_CALL,))]
    told = _alarm(notified_at=1001.0)
    assert due(told, 1899.0, POLICY) == []
    assert due(told, 1900.0, POLICY) == [Due("escalated", (BOSS,))]
    assert due({**told, "acked_at": 1500.0}, 5000.0, POLICY) == []  # acknowledged in time
    assert due({**told, "cleared_at": 1500.0}, 5000.0, POLICY) == []
    off = _alarm(kind="offline", notified_at=1000.0, escalated_at=1900.0)
    assert due(off, 4599.0, POLICY) == []
    assert due(off, 4600.0, POLICY) == [Due("reminder", (ON_CALL,), 1)]
    assert due({**off, "reminded_at": 4600.0, "reminders": 1}, 8200.0, POLICY) == \
        [Due("reminder", (ON_CALL,), 2)]


@pytest.mark.parametrize("kw, says", [
    ({"on_call": ("0612",)}, "E.164"), ({"on_call": ()}, "at least one"),
    ({"on_call": (ON_CALL,), "escalate_after_s": 0}, "over 0")])
def test_a_bad_policy_says_why(kw: dict, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        Policy(**kw)


class Flaky:
    """A provider that fails for one number until told otherwise."""

    name = "flaky"

    def __init__(self, outbox: Outbox, down: str) -> None:
        self.outbox, self.down = outbox, down

    def send(self, to: str, text: str, idem: str) -> Delivery:
        if to == self.down:
            raise SmsError("gateway 503")
        return self.outbox.send(to, text, idem)


def test_a_standing_alarm_is_told_escalated_and_reminded(tmp_path: Path) -> None:
    store = Store(open_engine(str(tmp_path / "c.sqlite")))
    box = Outbox(tmp_path / "sms")
    provider = Flaky(box, BOSS)
    n = Notifier(store, provider, POLICY, "town")
    store.apply(parse("bourg/town/pole-01/status", b"offline"), 1000.0)
    for t in (1000.0, 1060.0):
        n.tick(t)
    n.tick(1900.0)  # escalation fails: the boss's gateway is down
    provider.down = ""
    n.tick(1960.0)
    n.tick(2020.0)
    n.tick(4600.0)  # an hour after the first message
    sms = [json.loads(x) for x in (tmp_path / "sms" / "outbox.jsonl").read_text().splitlines()]
    assert [(m["to"], m["text"].split(": ")[1].split(" pole")[0]) for m in sms] == [
        (ON_CALL, "ALARM"), (BOSS, "NOT ACKNOWLEDGED"), (ON_CALL, "STILL OFFLINE")]
    assert "pole-01 offline since" in sms[0]["text"]
    [a] = store.alarms()
    assert (a["notified_at"], a["escalated_at"], a["reminders"]) == (1000.0, 1960.0, 1)
    stages = [(h["stage"], h["status"]) for h in n.history(a["id"])]
    assert stages == [("raised", "sent"), ("escalated", "failed"), ("escalated", "sent"),
                      ("reminder1", "sent")]


def test_a_cleared_alarm_is_neither_escalated_nor_reminded(tmp_path: Path) -> None:
    store = Store(open_engine(str(tmp_path / "c.sqlite")))
    n = Notifier(store, Outbox(tmp_path / "sms"), POLICY, "town")
    store.apply(parse("bourg/town/pole-01/status", b"offline"), 1000.0)
    n.tick(1000.0)
    store.apply(parse("bourg/town/pole-01/status", b"online"), 1100.0)
    n.tick(99999.0)
    assert len((tmp_path / "sms" / "outbox.jsonl").read_text().splitlines()) == 1
