"""The public availability is served from a snapshot: a request under load does not read the
database, the snapshot follows every change of a bay or zone, and no answer is older than
MAX_AGE_S."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bourg_console import availability as av
from bourg_console.accounts import Accounts
from bourg_console.db import open_engine
from bourg_console.store import Store
from bourg_console.topics import parse
from bourg_console.web import create_app
from host_tools.emulator.waiting import wait_until

P = "bourg/town/totem-1/"


def _zone(s: Store, free: int, now: float, zone: str = "A", site_prefix: str = P) -> None:
    s.apply(parse(site_prefix + f"zone/{zone}",
                  json.dumps({"free": free, "total": 4, "silent": 0}).encode()), now)


class _Counting(Store):
    """A store that counts the reads a snapshot makes."""

    reads = 0

    def parking_mark(self) -> int:
        self.reads += 1
        return super().parking_mark()


def _free(snap: av.Snapshot) -> list[int]:
    return [z["availableSpotNumber"] for z in snap.zones]


def test_a_fresh_snapshot_is_served_without_reading_the_database(tmp_path: Path) -> None:
    s = _Counting(open_engine(str(tmp_path / "c.sqlite")))
    _zone(s, 3, 10.0)
    t = [100.0]
    a = av.Availability(s, clock=lambda: t[0])
    assert _free(a.get(None)) == [3]
    reads = s.reads
    t[0] += av.MAX_AGE_S / 2
    for _ in range(100):
        assert _free(a.get(None)) == [3]
    assert s.reads == reads


def test_the_snapshot_follows_a_change_at_the_next_refresh(tmp_path: Path) -> None:
    s = Store(open_engine(str(tmp_path / "c.sqlite")))
    _zone(s, 3, 10.0)
    t = [100.0]
    a = av.Availability(s, clock=lambda: t[0])
    first = a.get(None)
    _zone(s, 2, 11.0)
    a.refresh()
    assert _free(a.get(None)) == [2]
    a.refresh()  # nothing changed: the same entities, checked again
    again = a.get(None)
    assert again.zones is a.get(None).zones and again.checked == t[0]
    assert first.json != again.json


def test_no_answer_is_older_than_its_limit_without_the_background_task(
        tmp_path: Path) -> None:
    s = Store(open_engine(str(tmp_path / "c.sqlite")))
    _zone(s, 3, 10.0)
    t = [100.0]
    a = av.Availability(s, clock=lambda: t[0])
    a.get(None)
    _zone(s, 1, 11.0)
    t[0] += av.MAX_AGE_S
    assert _free(a.get(None)) == [1]


def test_a_change_written_with_an_older_clock_still_moves_the_snapshot(
        tmp_path: Path) -> None:
    """The host's clock stepped back (NTP after a bad boot): the bays' write times go back
    too, and the mark must not depend on them."""
    s = Store(open_engine(str(tmp_path / "c.sqlite")))
    _zone(s, 3, 1000.0)
    a = av.Availability(s)
    a.get(None)
    _zone(s, 1, 10.0)
    a.refresh()
    assert _free(a.get(None)) == [1]


def test_sites_nobody_asks_for_are_dropped_and_not_brought_back(tmp_path: Path) -> None:
    s = _Counting(open_engine(str(tmp_path / "c.sqlite")))
    t = [100.0]
    a = av.Availability(s, clock=lambda: t[0])
    a.get(None)
    a.get("elsewhere")
    t[0] += av.IDLE_S / 2
    a.get(None)
    t[0] += av.IDLE_S / 2 + 1
    a.refresh()
    assert set(a._snaps) == {None}
    reads = s.reads
    a.refresh()
    assert s.reads == reads + 1  # the town's own snapshot only


def test_each_site_has_its_own_snapshot_and_their_number_is_bounded(tmp_path: Path) -> None:
    s = Store(open_engine(str(tmp_path / "c.sqlite")))
    _zone(s, 3, 10.0)
    _zone(s, 1, 10.0, zone="B", site_prefix="bourg/other/totem-9/")
    a = av.Availability(s)
    assert _free(a.get("town")) == [3] and _free(a.get("other")) == [1]
    assert sorted(_free(a.get(None))) == [1, 3]
    for i in range(av.SITES_KEPT + 5):
        assert a.get(f"nowhere{i}").zones == []
    assert len(a._snaps) <= av.SITES_KEPT and None in a._snaps


def test_the_app_s_background_task_keeps_the_public_answer_current(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests never rebuild here (an hour's limit): only the task can bring the change."""
    monkeypatch.setattr(av, "MAX_AGE_S", 3600.0)
    engine = open_engine(str(tmp_path / "c.sqlite"))
    s = Store(engine)
    _zone(s, 3, 10.0)
    with TestClient(create_app(s, Accounts(engine))) as client:

        def free() -> list[int]:
            return [z["availableSpotNumber"] for z in client.get(
                "/api/v1/parking/zones").json()]

        assert free() == [3]
        _zone(s, 0, 11.0)
        wait_until(lambda: free() == [0], 10, "the zone's change never reached the API")


def test_the_console_service_runs_the_background_task(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As `bourg console serve` runs it (uvicorn in a thread), not only under a test client:
    requests never rebuild here (an hour's limit), so only the task can bring the change."""
    import httpx2 as httpx

    from bourg_console.ingest import Broker
    from bourg_console.service import Console
    from host_tools.field.mosquitto import free_port

    monkeypatch.setattr(av, "MAX_AGE_S", 3600.0)
    port = free_port()
    console = Console(str(tmp_path / "c.sqlite"), Broker("127.0.0.1", free_port()), "town",
                      port=port)
    _zone(console.store, 3, 10.0)
    console.start()
    try:
        wait_until(console.serving, 10, "the console never served")

        def free() -> list[int]:
            return [z["availableSpotNumber"]
                    for z in httpx.get(f"http://127.0.0.1:{port}/api/v1/parking/zones").json()]

        assert free() == [3]
        _zone(console.store, 0, 11.0)
        wait_until(lambda: free() == [0], 10, "the zone's change never reached the API")
    finally:
        console.stop()
