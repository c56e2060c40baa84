"""The console's database: migrated to exactly the schema the store reads, each message
stored once, and a locked database waited for, not lost."""

from __future__ import annotations

import json
import sqlite3
import stat
import threading
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bourg_console import store as store_mod
from bourg_console.db import current_revision, head_revision, open_engine
from bourg_console.ingest import Broker, Ingest
from bourg_console.schema import metadata
from bourg_console.store import Store
from bourg_console.topics import Malformed, parse

P = "bourg/town/totem-1/"


def _store(db: str | Path) -> Store:
    return Store(open_engine(str(db)))


def _bay(occupied: bool | None, silent: bool = False, mv: int = 2900) -> bytes:
    return json.dumps({"bay": "A01", "zone": "A", "occupied": occupied, "silent": silent,
                       "battery_mv": mv, "health": 1.0, "confidence": 0.9}).encode()


def test_the_migrations_give_the_schema_the_store_reads(db_url: str) -> None:
    s = _store(db_url)
    assert current_revision(s.engine) == head_revision() == "0009"
    with s.engine.connect() as c:
        assert compare_metadata(MigrationContext.configure(c), metadata) == []


def test_the_database_file_is_for_the_console_alone(tmp_path: Path) -> None:
    _store(tmp_path / "console.sqlite")
    assert stat.S_IMODE((tmp_path / "console.sqlite").stat().st_mode) == 0o600


def test_an_event_sent_twice_is_stored_once(db_url: str) -> None:
    s = _store(db_url)
    ev = json.dumps({"seq": 4, "kind": "bay", "t": 1700000000, "data": {"bay": "A01"}})
    assert s.apply(parse(P + "events/bay", ev.encode()), 10.0)
    assert not s.apply(parse(P + "events/bay", ev.encode()), 11.0)
    # the same seq after the board's clock was set is another event (a reboot lost the seq)
    other = json.dumps({"seq": 4, "kind": "bay", "t": None, "data": {}})
    assert s.apply(parse(P + "events/bay", other.encode()), 12.0)
    assert [e["t"] for e in s.events("town", "totem-1", "bay")] == [1700000000, None]


def test_a_bay_is_dated_from_its_last_change_not_its_last_report(db_url: str) -> None:
    s = _store(db_url)
    s.apply(parse(P + "bay/A01", _bay(None)), 100.0)
    s.apply(parse(P + "bay/A01", _bay(True)), 200.0)
    s.apply(parse(P + "bay/A01", _bay(True, mv=2800)), 300.0)  # a heartbeat: same state
    [b] = s.bays()
    assert (b.occupied, b.since, b.updated_at, b.battery_mv) == (True, 200.0, 300.0, 2800)
    s.apply(parse(P + "bay/A01", _bay(True, silent=True)), 400.0)
    assert s.bays()[0].since == 400.0


def test_boards_learn_their_role_firmware_boot_cause_and_safe_mode(db_url: str) -> None:
    s = _store(db_url)
    s.apply(parse(P + "info", json.dumps({"fw": "1.2", "role": "parking_totem",
                                          "mode": "normal", "micropython": "1.28.0"})
                  .encode()), 1.0)
    s.apply(parse(P + "events/boot", json.dumps({"seq": 1, "kind": "boot", "t": 5,
                                                 "data": {"cause": "watchdog"}}).encode()),
            2.0)
    s.apply(parse(P + "status", b"online"), 3.0)
    [b] = s.boards()
    assert (b["role"], b["fw"], b["boot_cause"], b["online"], b["last_seen"]) == \
        ("parking_totem", "1.2", "watchdog", True, 3.0)
    s.apply(parse(P + "state", json.dumps({"mode": "safe", "error": "config.json: x"})
                  .encode()), 4.0)
    assert (s.boards()[0]["mode"], s.boards()[0]["safe_error"]) == ("safe", "config.json: x")


def test_refused_messages_are_all_counted_and_the_newest_kept(db_url: str,
                                                              monkeypatch) -> None:
    monkeypatch.setattr(store_mod, "MALFORMED_KEPT", 5)
    s = _store(db_url)
    for i in range(12):
        s.refuse(f"bourg/town/x/{i}", Malformed("bad"), float(i))
    assert s.malformed_count() == 12
    assert [m["topic"] for m in s.malformed()] == [f"bourg/town/x/{i}"
                                                   for i in range(11, 6, -1)]


def test_a_locked_database_is_waited_for_and_the_message_stored_once_free(
        tmp_path: Path, monkeypatch) -> None:
    """Another process holds the write lock longer than SQLite's busy timeout: the writer
    retries until it is free, and only then would the message be acknowledged."""
    monkeypatch.setattr("bourg_console.db.BUSY_TIMEOUT_MS", 50)
    s = _store(tmp_path / "console.sqlite")
    ingest = Ingest(s, Broker("127.0.0.1", 1), "town")
    holder = sqlite3.connect(tmp_path / "console.sqlite", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    done = threading.Event()

    def write() -> None:
        assert ingest._write([(P + "zone/A", b'{"free": 1, "total": 1, "silent": 0}', 1, 0,
                               False, 9.0)])
        done.set()

    t = threading.Thread(target=write)
    t.start()
    try:
        from host_tools.emulator.waiting import wait_until

        wait_until(lambda: ingest.stats.retries >= 2, 20, "the writer never met the lock")
        assert not done.is_set()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    t.join(20)
    assert done.is_set()
    assert [(z.zone, z.free) for z in s.zones()] == [("A", 1)]
    assert ingest.stats.stored == 1


def test_times_past_2038_and_big_sequence_numbers_are_stored(db_url: str) -> None:
    s = _store(db_url)
    ev = json.dumps({"seq": 2**40, "kind": "log", "t": 2**31 + 5, "data": {}})
    assert s.apply(parse(P + "events/log", ev.encode()), 10.0)
    [e] = s.events("town", "totem-1", "log")
    assert (e["seq"], e["t"]) == (2**40, 2**31 + 5)


def test_one_standing_alarm_per_kind_whoever_raises_it(db_url: str) -> None:
    """The ingest (a will) and the heartbeat (missed polls) raising offline at once."""
    from bourg_console.alarms import OFFLINE, Raise

    s = _store(db_url)
    s.apply(parse(P + "status", b"online"), 1.0)
    s.apply(parse(P + "status", b"offline"), 2.0)
    with s.engine.begin() as c:  # a second raise that missed the first one's row
        s._open_alarms = lambda c, site, dev: {}  # type: ignore[method-assign]
        s._alarm(c, "town", "totem-1", Raise(OFFLINE), 3.0)
    assert [a["kind"] for a in s.alarms(standing=True)] == [OFFLINE]


def test_a_batch_keeps_every_message_but_the_one_a_bug_breaks(tmp_path: Path,
                                                               monkeypatch) -> None:
    s = _store(tmp_path / "console.sqlite")
    ingest = Ingest(s, Broker("127.0.0.1", 1), "town")
    real = s.apply_in

    def flaky(c, obs, now, pending, *, retained=False):  # noqa: ANN001, ANN202
        if getattr(obs, "zone", None) == "B":
            raise RuntimeError("a bug in the store")
        return real(c, obs, now, pending, retained=retained)

    monkeypatch.setattr(s, "apply_in", flaky)
    batch = [(P + f"zone/{z}", b'{"free": 1, "total": 1, "silent": 0}', i, 1, False, 9.0)
             for i, z in enumerate("ABC")] + [(P + "zone/D", b"garbage", 9, 1, False, 9.0)]
    assert ingest._write(batch)
    assert [z.zone for z in s.zones()] == ["A", "C"]
    assert (ingest.stats.stored, ingest.stats.refused, len(ingest.stats.errors)) == (2, 1, 1)
    assert s.malformed_count() == 1


def test_the_writer_acks_after_commit_and_outlives_a_broken_hook(tmp_path: Path) -> None:
    s = _store(tmp_path / "console.sqlite")
    ingest = Ingest(s, Broker("127.0.0.1", 1), "town")
    acked: list[tuple[int, int, bool]] = []

    class Client:
        def ack(self, mid: int, qos: int) -> None:
            # what is acknowledged is already in the database
            acked.append((mid, qos, any(z.zone == f"Z{mid}" for z in s.zones())))

    ingest.client = Client()  # type: ignore[assignment]

    def hook(topic: str, payload: bytes) -> None:
        if topic.endswith("Z2"):
            raise RuntimeError("a broken hook")

    ingest.on_stored = hook
    for mid in range(1, 5):
        ingest._inbox.put((P + f"zone/Z{mid}", b'{"free": 1, "total": 1, "silent": 0}', mid,
                           1 if mid != 3 else 0, False, 9.0))
    ingest._inbox.put(None)
    ingest._write_loop()  # returns at the stop marker
    assert acked == [(1, 1, True), (2, 1, True), (4, 1, True)]  # QoS 0 needs no ack
    assert ingest.stats.stored == 4


def test_a_locked_database_while_storing_one_by_one_counts_nothing_twice(
        tmp_path: Path, monkeypatch) -> None:
    """A bug sends the batch one message at a time; the database is then locked once at the
    third message: the first two are not stored, counted or refused a second time."""
    from sqlalchemy.exc import OperationalError

    monkeypatch.setattr("bourg_console.ingest.RETRY_FIRST_S", 0.01)
    s = _store(tmp_path / "console.sqlite")
    ingest = Ingest(s, Broker("127.0.0.1", 1), "town")
    real, locked = s.apply_in, []

    def flaky(c, obs, now, pending, *, retained=False):  # noqa: ANN001, ANN202
        zone = getattr(obs, "zone", None)
        if zone == "B":
            raise RuntimeError("a bug in the store")
        if zone == "C" and not locked:
            locked.append(1)
            raise OperationalError("UPDATE", {}, Exception("database is locked"))
        return real(c, obs, now, pending, retained=retained)

    monkeypatch.setattr(s, "apply_in", flaky)
    batch = [(P + "zone/D", b"garbage", 0, 1, False, 9.0)] + [
        (P + f"zone/{z}", b'{"free": 1, "total": 1, "silent": 0}', i, 1, False, 9.0)
        for i, z in enumerate("ABC", 1)]
    assert ingest._write(batch)
    assert [z.zone for z in s.zones()] == ["A", "C"]
    assert (ingest.stats.stored, ingest.stats.refused, ingest.stats.retries) == (2, 1, 1)
    assert s.malformed_count() == 1


_MESSAGES = [  # (topic suffix, payload, retained): what moves a board's alarms and last_seen
    ("status", b"online", False), ("status", b"offline", False),
    ("state", b'{"level": 10}', False), ("state", b'{"level": 30}', True),
    ("alarms", b'{"active": ["lamp"]}', False), ("alarms", b'{"active": []}', False),
    ("info", b'{"mode": "normal"}', False),
    ("info", b'{"mode": "safe", "error": "boot"}', False),
    ("state", b'{"mode": "safe", "error": "config"}', False),
    ("events/alarm", b'{"seq": SEQ, "kind": "alarm", "t": null, '
                     b'"data": {"alarm": "lamp", "active": true}}', False),
    ("events/alarm", b'{"seq": SEQ, "kind": "alarm", "t": null, '
                     b'"data": {"alarm": "lamp", "active": false}}', False),
    ("events/bay", b'{"seq": SEQ, "kind": "bay", "t": null, '
                   b'"data": {"bay": "A01", "zone": "A", "occupied": true}}', False),
    ("events/bay", b'{"seq": SEQ, "kind": "bay", "t": null, '
                   b'"data": {"bay": "A01", "zone": "A", "occupied": false}}', False),
]


def _alarm_rows(s: Store) -> list[tuple[object, ...]]:
    return sorted((a["device"], a["kind"], a["raised_at"], a["cleared_at"])
                  for a in s.alarms())


def _board_rows(s: Store) -> list[tuple[object, ...]]:
    from bourg_console.schema import board_states

    with s.engine.connect() as c:
        states = sorted(tuple(r) for r in c.execute(board_states.select()))
    return sorted(tuple(sorted(b.items())) for b in s.boards()) + states


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(["pole-1", "pole-2"]),
                          st.sampled_from(range(len(_MESSAGES)))), min_size=1, max_size=30),
       st.integers(1, 30))
def test_a_batch_leaves_what_one_transaction_a_message_leaves(
        tmp_path_factory: pytest.TempPathFactory, msgs: list[tuple[str, int]],
        cut: int) -> None:
    """The writes a batch puts off to its end (Pending: last_seen, cleared alarms, states)
    change nothing: two batches, split where `cut` says, leave the same alarms (raised,
    cleared, when), boards and states as each message in its own transaction."""
    d = tmp_path_factory.mktemp("batch")
    one, batched = _store(d / "one.sqlite"), _store(d / "batched.sqlite")
    ingest = Ingest(batched, Broker("127.0.0.1", 1), "town")
    items = []
    for i, (device, m) in enumerate(msgs):
        suffix, payload, retained = _MESSAGES[m]
        payload = payload.replace(b"SEQ", str(i).encode())
        topic = f"bourg/town/{device}/{suffix}"
        one.apply(parse(topic, payload), float(i), retained=retained)
        items.append((topic, payload, i, 0, retained, float(i)))
    for part in (items[:cut], items[cut:]):
        if part:
            assert ingest._write(part)
    assert _alarm_rows(batched) == _alarm_rows(one)
    assert _board_rows(batched) == _board_rows(one)
    assert _sessions(batched) == _sessions(one)


def _sessions(s: Store) -> list[tuple[object, ...]]:
    return [(r["bay"], r["arrived_at"], r["departed_at"]) for r in s.sessions(0.0)]


def test_a_bank_s_temps_become_a_series_and_garbage_in_them_is_left_out(db_url: str) -> None:
    s = _store(db_url)
    temps = {"every_s": 900, "c": {
        "2": {"min": 3.5, "max": 9.25, "last": 4.0, "failed": 1, "max_c": 8.0},
        "3": {"min": None, "max": None, "last": None, "failed": 1800, "max_c": None},
        "4": {"min": "cold", "max": 1, "last": 1, "failed": 0},
        "5": {"min": float("nan"), "max": 1, "last": 1, "failed": 0},
        "6": {"min": 1, "max": 1, "last": 1, "failed": True},
        "x": {"min": 1, "max": 1, "last": 1, "failed": 0},
        "99": {"min": 1, "max": 1, "last": 1, "failed": 0},
        "\u00b2": {"min": 1, "max": 1, "last": 1, "failed": 0},  # isdigit() but not int()
        "1" * 5000: {"min": 1, "max": 1, "last": 1, "failed": 0},
        "07": {"min": 1, "max": 1, "last": 1, "failed": 0},
        "8": {"min": 1, "max": 1, "last": 1, "failed": 2**31},  # past an INTEGER
        "7": [1, 2]}}
    s.apply(parse("bourg/town/locker-01/temps", json.dumps(temps).encode()), 1000.0)
    s.apply(parse("bourg/town/locker-01/temps", b'{"every_s": "often", "c": {}}'), 1001.0)
    rows = s.temperatures("town", "locker-01", 0.0)
    assert [(r["compartment"], r["min_c"], r["max_c"], r["failed"], r["limit_c"])
            for r in rows] == [(2, 3.5, 9.25, 1, 8.0), (3, None, None, 1800, None)]
    assert s.temperatures("town", "locker-01", 1000.5) == []


def test_a_temps_period_sent_again_is_added_once_and_dated_by_the_bank(db_url: str) -> None:
    """A bank sends its states again on each reconnect and the broker its retained copy on
    each subscription: the same period is one row. The bank's clock dates it."""
    s = _store(db_url)
    topic = "bourg/town/locker-01/temps"

    def temps(n: int, t: int | None) -> bytes:
        return json.dumps({"every_s": 900, "n": n, "t": t, "c": {
            "2": {"min": 3.5, "max": 4.5, "last": 4.0, "failed": 0, "max_c": 8.0}}}).encode()

    s.apply(parse(topic, temps(1, 1_800_000_000)), 1000.0)
    s.apply(parse(topic, temps(1, 1_800_000_000)), 5000.0)  # the bank reconnected
    s.apply(parse(topic, temps(1, 1_800_000_000)), 6000.0, retained=True)  # a resubscribe
    s.apply(parse(topic, temps(2, None)), 7000.0)  # no clock: dated when heard
    s.apply(parse(topic, temps(2, None)), 7500.0)
    assert [r["ended_at"] for r in s.temperatures("town", "locker-01", 0.0)] == \
        [7000.0, 1_800_000_000.0]


def test_a_bank_s_cold_chain_is_kept_two_years_then_dropped(db_url: str) -> None:
    """By the console's clock, so a bank whose clock ran ahead cannot wipe its record."""
    s = _store(db_url)
    topic = "bourg/town/locker-01/temps"

    def temps(n: int, t: int) -> bytes:
        return json.dumps({"every_s": 900, "n": n, "t": t, "c": {
            "2": {"min": 3.5, "max": 4.5, "last": 4.0, "failed": 0, "max_c": 8.0}}}).encode()

    t0, keep = 1_800_000_000, store_mod.COLD_KEPT_S
    s.apply(parse(topic, temps(1, t0)), t0)
    s.apply(parse(topic, temps(2, 3_000_000_000)), t0 + 900)  # a bank's clock far ahead
    assert len(s.temperatures("town", "locker-01", 0.0)) == 2  # wipes nothing
    s.apply(parse(topic, temps(3, t0 + keep - 1)), t0 + keep - 1)
    assert len(s.temperatures("town", "locker-01", 0.0)) == 3
    s.apply(parse(topic, temps(4, t0 + keep + 1)), t0 + keep + 1)
    assert [r["ended_at"] for r in s.temperatures("town", "locker-01", 0.0)] == \
        [t0 + keep - 1, t0 + keep + 1, 3_000_000_000]
