"""Alarms: raised and cleared by what the boards say and by their silence, acknowledged once,
audited, exported."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bourg_console.accounts import Accounts
from bourg_console.alarms import OFFLINE, SAFE_MODE, overdue
from bourg_console.db import open_engine
from bourg_console.store import Store
from bourg_console.topics import parse
from bourg_console.web import create_app

P = "bourg/town/pole-01/"
PW = "correct horse battery"


def _j(d: object) -> bytes:
    return json.dumps(d).encode()


def _alarm(seq: int, name: str, active: bool, **detail: object) -> bytes:
    return _j({"seq": seq, "kind": "alarm", "t": 1000 + seq,
               "data": {"alarm": name, "active": active, **detail}})


def _standing(s: Store) -> list[tuple[str, str]]:
    return sorted((a["device"], a["kind"]) for a in s.alarms(standing=True))


@pytest.fixture
def store(db_url: str) -> Store:
    return Store(open_engine(db_url))


def test_a_boards_alarm_stands_until_it_says_it_is_over(store: Store) -> None:
    store.apply(parse(P + "events/alarm", _alarm(1, "lamp_failure", True, ma=3)), 10.0)
    store.apply(parse(P + "events/alarm", _alarm(2, "lamp_failure", True, ma=2)), 11.0)
    [a] = store.alarms(standing=True)
    assert (a["kind"], a["detail"], a["raised_at"]) == ("lamp_failure", {"ma": 3}, 10.0)
    store.apply(parse(P + "events/alarm", _alarm(3, "lamp_failure", False)), 12.0)
    assert _standing(store) == []
    assert store.alarms(standing=False)[0]["cleared_at"] == 12.0


def test_the_retained_list_catches_up_what_the_console_missed(store: Store) -> None:
    store.apply(parse(P + "events/alarm", _alarm(1, "door_open", True)), 10.0)
    store.apply(parse(P + "status", b"offline"), 11.0)
    # back after an outage: the board's list says the door was shut and the lamp failed
    store.apply(parse(P + "alarms", _j({"active": ["lamp_failure"]})), 12.0,
                retained=True)
    assert _standing(store) == [("pole-01", "lamp_failure"), ("pole-01", OFFLINE)]


def test_safe_mode_stands_until_the_app_boots_again(store: Store) -> None:
    store.apply(parse(P + "state", _j({"mode": "safe", "error": "config.json: app.x"})), 1.0)
    [a] = store.alarms(standing=True)
    assert (a["kind"], a["detail"]) == (SAFE_MODE, {"error": "config.json: app.x"})
    store.apply(parse(P + "info", _j({"mode": "normal", "fw": "1"})), 2.0)
    assert _standing(store) == []


def test_a_poles_light_in_its_fail_safe_level_is_not_the_boards_safe_mode(store: Store) -> None:
    """A pole's `state` has a `mode` of its own (auto, override, safe: full light while it
    boots or cannot trust its inputs); only the runtime's safe mode carries an `error`."""
    store.apply(parse(P + "info", _j({"mode": "normal", "role": "lighting"})), 1.0)
    store.apply(parse(P + "state", _j({"level": 100, "mode": "safe", "reason": "safe"})), 2.0)
    assert _standing(store) == [] and store.boards()[0]["mode"] == "normal"


def test_offline_is_cleared_by_the_board_itself_not_by_a_retained_copy(store: Store) -> None:
    store.apply(parse(P + "status", b"online"), 1.0)
    store.apply(parse(P + "status", b"offline"), 2.0)
    assert _standing(store) == [("pole-01", OFFLINE)]
    store.apply(parse(P + "info", _j({"mode": "normal"})), 3.0, retained=True)
    store.apply(parse(P + "status", b"online"), 3.0, retained=True)
    assert _standing(store) == [("pole-01", OFFLINE)]
    assert store.boards()[0]["last_seen"] == 2.0  # a retained copy is not the board
    store.apply(parse(P + "reply/status", _j({"mem_free": 5000})), 4.0)
    assert _standing(store) == []


def test_a_board_silent_for_its_missed_polls_is_raised_at_the_next_poll(store: Store) -> None:
    assert not overdue(100.0, 130.0, 10.0, 3) and overdue(100.0, 130.5, 10.0, 3)
    store.apply(parse(P + "reply/status", _j({})), 100.0)
    store.apply(parse("bourg/town/locker-01/reply/status", _j({})), 125.0)
    store.apply(parse("bourg/town/pole-02/state", _j({"mode": "safe", "error": "x"})), 90.0)
    assert store.raise_overdue(130.0, 10.0, 3) == []
    assert store.raise_overdue(131.0, 10.0, 3) == ["pole-01"]
    assert store.raise_overdue(141.0, 10.0, 3) == []  # raised once
    # the safe-mode board answers no poll: only its will says it is gone
    assert _standing(store) == [("pole-01", OFFLINE), ("pole-02", SAFE_MODE)]
    [off] = [a for a in store.alarms(standing=True) if a["kind"] == OFFLINE]
    assert off["detail"] == {"reason": "no answer to 3 status polls"}


def test_acknowledging_is_once_audited_and_exported(tmp_path: Path) -> None:
    engine = open_engine(str(tmp_path / "c.sqlite"))
    store, accounts = Store(engine), Accounts(engine)
    accounts.add_user("tom", "technician", PW, 0.0)
    accounts.add_user("mia", "merchant", PW, 0.0, bank="locker-01")
    store.apply(parse(P + "events/alarm", _alarm(1, "door_open", True)), 10.0)
    [a] = store.alarms()
    client = TestClient(create_app(store, accounts), follow_redirects=False)

    def login(name: str) -> str:
        client.cookies.clear()
        page = client.get("/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        client.post("/login", data={"name": name, "password": PW, "csrf": token})
        return re.search(r'name="csrf" value="([^"]+)"', client.get("/").text).group(1)

    csrf = login("mia")
    assert client.get("/alarms").status_code == 403
    assert client.post(f"/api/v1/alarms/{a['id']}/ack",
                       headers={"X-CSRF-Token": csrf}).status_code == 403
    csrf = login("tom")
    assert client.post(f"/api/v1/alarms/{a['id']}/ack").status_code == 403  # no token
    assert "door_open" in client.get("/alarms").text
    r = client.post(f"/api/v1/alarms/{a['id']}/ack", headers={"X-CSRF-Token": csrf})
    assert r.json() == {"ok": True, "id": a["id"]}
    assert client.post(f"/api/v1/alarms/{a['id']}/ack",
                       headers={"X-CSRF-Token": csrf}).status_code == 404
    [a] = store.alarms()
    assert a["acked_by"] == "tom" and a["cleared_at"] is None  # acknowledged, still standing
    assert [e["action"] for e in accounts.audit_log()][0] == "alarm_acked"
    csv = client.get("/api/v1/alarms.csv").text.splitlines()
    assert csv[0].startswith("id,site,device,kind") and ",door_open," in csv[1]
    assert ",tom," in csv[1]


def test_the_csv_shows_a_boards_formula_and_never_runs_it(tmp_path: Path) -> None:
    engine = open_engine(str(tmp_path / "c.sqlite"))
    store, accounts = Store(engine), Accounts(engine)
    accounts.add_user("tom", "technician", PW, 0.0)
    store.apply(parse(P + "events/alarm", _alarm(1, "=HYPERLINK(\"http://x\")", True)), 10.0)
    client = TestClient(create_app(store, accounts), follow_redirects=False)
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)
    client.post("/login", data={"name": "tom", "password": PW, "csrf": token})
    import csv

    rows = list(csv.reader(client.get("/api/v1/alarms.csv").text.splitlines()))
    assert rows[1][3] == "'=HYPERLINK(\"http://x\")"
