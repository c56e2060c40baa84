"""Parking for the staff: sessions from the totem's events, overstays raised and cleared,
occupancy and turnover figures, the sessions' CSV."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bourg_console import parking
from bourg_console.accounts import Accounts
from bourg_console.db import open_engine
from bourg_console.store import Store
from bourg_console.topics import parse
from bourg_console.web import create_app

T0 = 1_780_000_000 - 1_780_000_000 % 3600  # on the hour
PW = "correct horse battery"


def _bay(store: Store, seq: int, bay: str, occupied: bool, t: int | None,
         now: float) -> None:
    ev = {"seq": seq, "kind": "bay", "t": t,
          "data": {"bay": bay, "zone": "A", "occupied": occupied, "silent": False}}
    store.apply(parse("bourg/town/totem-1/events/bay", json.dumps(ev).encode()), now)


@pytest.fixture
def store(db_url: str) -> Store:
    return Store(open_engine(db_url))


def test_a_stay_is_opened_and_closed_by_the_totems_events(store: Store) -> None:
    _bay(store, 1, "A01", True, T0 + 60, T0 + 65)
    _bay(store, 1, "A01", True, T0 + 60, T0 + 70)  # resent: one session
    _bay(store, 2, "A01", False, T0 + 1860, T0 + 1862)
    _bay(store, 3, "A02", True, None, T0 + 2000)  # no clock yet: the console's time
    [a, b] = store.sessions(T0)
    assert (a["bay"], a["arrived_at"], a["departed_at"]) == ("A01", T0 + 60, T0 + 1860)
    assert (b["bay"], b["arrived_at"], b["departed_at"]) == ("A02", T0 + 2000, None)


def test_an_overstay_stands_until_the_vehicle_leaves(store: Store) -> None:
    _bay(store, 1, "A01", True, T0, T0)
    rules = parking.parse_max_stay(["A=30"])
    assert store.raise_overstays(T0 + 30 * 60, rules) == []
    assert store.raise_overstays(T0 + 30 * 60 + 1, rules) == ["A01"]
    assert store.raise_overstays(T0 + 40 * 60, rules) == []  # once
    [a] = store.alarms(standing=True)
    assert (a["device"], a["kind"], a["detail"]["max_stay_min"]) == \
        ("totem-1", "overstay:A01", 30)
    # the totem's own (empty) list of alarms does not clear the console's
    store.apply(parse("bourg/town/totem-1/alarms", b'{"active": []}'), T0 + 41 * 60)
    assert len(store.alarms(standing=True)) == 1
    _bay(store, 2, "A01", False, T0 + 45 * 60, T0 + 45 * 60)
    assert store.alarms(standing=True) == []


def test_occupancy_counts_bay_hours_and_turnover_arrivals_per_bay_day() -> None:
    sessions = [{"arrived_at": T0 + 900, "departed_at": T0 + 2700},  # a half hour in hour 0
                {"arrived_at": T0 + 3600, "departed_at": None}]  # from hour 1, still there
    assert parking.occupancy_by_hour(sessions, T0, 3, now=T0 + 9000) == [0.5, 1.0, 0.5]
    assert parking.arrivals_by_hour(sessions, T0, 3) == [1, 1, 0]
    assert parking.turnover(sessions, T0, T0 + 86400, bays=2) == 1.0
    # the second day has had two hours (its first and the one under way): both taken
    assert parking.occupancy_by_day(sessions, T0, 2, now=T0 + 86400 + 3600) == \
        [round(23.5 / 24, 3), 1.0]
    assert parking.arrivals_by_day(sessions, T0, 2) == [2, 0]


@pytest.mark.parametrize("item", ["A", "A=0", "A=x", "=30", "A B=3"])
def test_a_bad_max_stay_is_refused_by_name(item: str) -> None:
    with pytest.raises(ValueError, match="ZONE=MINUTES"):
        parking.parse_max_stay([item])


def test_the_staff_page_and_the_csv(tmp_path: Path) -> None:
    engine = open_engine(str(tmp_path / "c.sqlite"))
    store, accounts = Store(engine), Accounts(engine)
    accounts.add_user("tom", "technician", PW, 0.0)
    _bay(store, 1, "A01", True, T0, T0)
    store.apply(parse("bourg/town/totem-1/bay/A01", json.dumps({
        "bay": "A01", "zone": "A", "occupied": True, "silent": False, "battery_mv": 2900,
        "health": 1.0, "confidence": 0.9}).encode()), T0)
    client = TestClient(create_app(store, accounts, now=lambda: T0 + 7200,
                                   max_stay_s={"A": 3600.0}), follow_redirects=False)
    assert client.get("/parking").status_code == 303
    assert client.get("/api/v1/parking/sessions.csv").status_code == 401
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)
    client.post("/login", data={"name": "tom", "password": PW, "csrf": token})
    page = client.get("/parking").text
    assert re.search(r'id="overstays">Overstaying: A01 \(2h 00m\)', page), page
    assert 'aria-label="bays taken, by day (UTC)"' in page
    rows = client.get("/api/v1/parking/sessions.csv").text.splitlines()
    assert rows[0] == "site,totem,zone,bay,arrived,departed,minutes"
    assert rows[1].startswith("town,totem-1,A,A01,") and rows[1].endswith(",,120.0")
