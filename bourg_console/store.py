"""The console's memory: each observation of topics.py applied to the database, and the
queries the pages and the API read.

Applying is idempotent, as MQTT's at-least-once delivery needs: a resent event is stored once
(its site, device, kind, seq and time are its key) and a state or status overwrites itself.
Messages are applied within the ingest's transactions (a batch at a time, ingest.py), so a
crash or a locked database leaves each either stored or not, never half."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    bindparam,
    case,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from bourg_console import alarms
from bourg_console import schema as s
from bourg_console.topics import (
    MAX_TIME,
    NAME,
    BayState,
    Event,
    Malformed,
    Observation,
    Skipped,
    State,
    Status,
    ZoneState,
)

# a cold chain's record is kept two years: food-safety inspections ask for last year's
COLD_KEPT_S = 2 * 366 * 86400
MALFORMED_KEPT = 1000  # the newest refused messages kept for the log page; all are counted


@dataclass(frozen=True)
class Zone:
    site: str
    totem: str
    zone: str
    free: int
    total: int
    silent: int
    updated_at: float

    @property
    def occupied(self) -> int:
        """Bays known taken: neither free nor silent (a silent bay is never counted free)."""
        return self.total - self.free - self.silent


@dataclass(frozen=True)
class Bay:
    site: str
    totem: str
    bay: str
    zone: str
    occupied: bool | None
    silent: bool
    battery_mv: int | None
    health: float | None
    confidence: float | None
    since: float
    updated_at: float


# The statements every message runs, built once: SQLAlchemy spends more time building an
# expression than the database spends running it (the scale bench, docs/console.md).
_B, _BS, _A = s.boards, s.board_states, s.alarms
_SEEN = update(_B).where(_B.c.site == bindparam("k_site"), _B.c.device == bindparam("k_dev")
                         ).values(last_seen=bindparam("now"))
_KNOWN = select(_B.c.device).where(_B.c.site == bindparam("k_site"),
                                   _B.c.device == bindparam("k_dev"))
_STATE = update(_BS).where(_BS.c.site == bindparam("k_site"), _BS.c.device == bindparam("k_dev"),
                           _BS.c.suffix == bindparam("k_suffix")
                           ).values(data=bindparam("data"), received_at=bindparam("now"))
# a mark, not a count: it wraps long before PostgreSQL's INTEGER would overflow
_BUMP = update(s.counters).where(s.counters.c.name == bindparam("k_name")).values(
    value=case((s.counters.c.value >= 2**30, 1), else_=s.counters.c.value + 1))
# a clearing put off to a batch's end is dated by the message that cleared, but never before
# the raise: another transaction (the heartbeat's offline check) may raise it meanwhile
_CLEAR = update(_A).where(_A.c.site == bindparam("k_site"), _A.c.device == bindparam("k_dev"),
                          _A.c.kind == bindparam("k_kind"), _A.c.cleared_at.is_(None)
                          ).values(cleared_at=case((_A.c.raised_at > bindparam("now"),
                                                    _A.c.raised_at), else_=bindparam("now")))


@dataclass
class Pending:
    """The writes a transaction of many messages puts off to its end (Store.flush), where
    each kind goes to the database in one executemany: a board's `last_seen` (the newest),
    the clearing of its alarms (dated by the first message that cleared them) and a known
    state's new value (the last one). Every live message clears OFFLINE and moves
    last_seen, and most are states, so this saves about three round trips a message. All
    are overwrites, and no later statement of the transaction reads them, except an alarm
    raised or synced for the same board: its board's clearings are written first."""

    seen: dict[tuple[str, str], float] = field(default_factory=dict)
    clears: dict[tuple[str, str, str], float] = field(default_factory=dict)
    states: dict[tuple[str, str, str], tuple[str, float]] = field(default_factory=dict)
    parking: bool = False  # a bay or zone was written: the parking mark moves at the flush
    # rows it found in the table or inserted: known to the store once it commits
    learnt_boards: set[tuple[str, str]] = field(default_factory=set)
    learnt_states: set[tuple[str, str, str]] = field(default_factory=set)


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # boards and states known to be in their tables (committed): a live message of
        # one only updates its row, which can wait for the end of the batch. Neither is
        # ever deleted.
        self._boards: set[tuple[str, str]] = set()
        self._states: set[tuple[str, str, str]] = set()

    # -- writing ---------------------------------------------------------------------------
    def apply(self, obs: Observation, now: float, *, retained: bool = False) -> bool:
        """Store one observation received at `now`, and the alarms it raises or clears, in
        a transaction of its own (apply_in: within the caller's)."""
        with self.writing() as (c, pending):
            return self.apply_in(c, obs, now, pending, retained=retained)

    @contextmanager
    def writing(self) -> Iterator[tuple[Connection, Pending]]:
        """A transaction for apply_in and refuse_in, and its Pending: what they put off is
        flushed before the commit, and the rows it learnt are known once it committed.
        An exception rolls it all back and teaches nothing."""
        pending = Pending()
        with self.engine.begin() as c:
            yield c, pending
            self.flush(c, pending)
        self.committed(pending)

    def apply_in(self, c: Connection, obs: Observation, now: float, pending: Pending, *,
                 retained: bool = False) -> bool:
        """apply() within the transaction `c`, whose `pending` writes the caller flushes
        before it commits (then calls committed); False when it changed nothing new (a
        duplicate event, a skipped command). A `retained` copy, which the broker hands out
        on a subscription, does not count as hearing from the board."""
        if isinstance(obs, Skipped):
            return False
        self._seen(c, obs.site, _device(obs), now, retained, pending)
        if isinstance(obs, Event) and self._duplicate(c, obs):
            return False
        for change in alarms.changes(obs, retained):
            self._alarm(c, obs.site, _device(obs), change, now, pending)
        if isinstance(obs, Status):
            c.execute(update(s.boards).where(*_board(obs.site, obs.device))
                      .values(online=obs.online, status_at=now))
            return True
        if isinstance(obs, Event):
            return self._event(c, obs, now)
        if isinstance(obs, State):
            self._state(c, obs, now, pending)
            return True
        if isinstance(obs, BayState):
            self._bay(c, obs, now)
            pending.parking = True
            return True
        if isinstance(obs, ZoneState):
            pending.parking = True
            _upsert(c, s.zones, {"site": obs.site, "totem": obs.totem, "zone": obs.zone},
                    {"free": obs.free, "total": obs.total, "silent": obs.silent,
                     "updated_at": now})
            return True
        raise TypeError(f"not an observation: {obs!r}")

    def refuse(self, topic: str, err: Malformed, now: float) -> None:
        with self.engine.begin() as c:
            self.refuse_in(c, topic, err, now)

    def refuse_in(self, c: Connection, topic: str, err: Malformed, now: float) -> None:
        """Count a refused message and keep it among the newest MALFORMED_KEPT."""
        c.execute(insert(s.malformed).values(topic=topic[:200], reason=str(err)[:200],
                                             received_at=now))
        _upsert(c, s.counters, {"name": "malformed"}, {"value": self._count(c) + 1})
        cut = c.execute(select(s.malformed.c.id).order_by(s.malformed.c.id.desc())
                        .offset(MALFORMED_KEPT).limit(1)).scalar()
        if cut is not None:
            c.execute(s.malformed.delete().where(s.malformed.c.id <= cut))

    @staticmethod
    def _count(c: Connection) -> int:
        return c.execute(select(s.counters.c.value)
                         .where(s.counters.c.name == "malformed")).scalar() or 0

    def flush(self, c: Connection, pending: Pending) -> None:
        """Write what `pending` put off, within `c`, before it commits."""
        self._flush_clears(c, pending, None)
        if pending.seen:
            c.execute(_SEEN, [{"k_site": site, "k_dev": dev, "now": now}
                              for (site, dev), now in pending.seen.items()])
            pending.seen.clear()
        if pending.parking:
            if not c.execute(_BUMP, {"k_name": "parking"}).rowcount:
                c.execute(insert(s.counters).values(name="parking", value=1))
            pending.parking = False
        if pending.states:
            c.execute(_STATE, [{"k_site": site, "k_dev": dev, "k_suffix": suffix,
                                "data": data, "now": now}
                               for (site, dev, suffix), (data, now) in pending.states.items()])
            pending.states.clear()

    def committed(self, pending: Pending) -> None:
        """After the commit: the boards and states the transaction found or inserted are
        known from now on."""
        self._boards |= pending.learnt_boards
        self._states |= pending.learnt_states

    @staticmethod
    def _flush_clears(c: Connection, pending: Pending, board: tuple[str, str] | None
                      ) -> None:
        """Write the put-off clearings of `board` (None: of every board)."""
        keys = [k for k in pending.clears if board is None or k[:2] == board]
        if keys:
            c.execute(_CLEAR, [{"k_site": site, "k_dev": dev, "k_kind": kind,
                                "now": pending.clears.pop((site, dev, kind))}
                               for site, dev, kind in keys])

    def _seen(self, c: Connection, site: str, device: str, now: float, retained: bool,
              pending: Pending) -> None:
        key = (site, device)
        if key in self._boards or key in pending.learnt_boards:
            if not retained:
                pending.seen[key] = max(now, pending.seen.get(key, now))
            return
        params = {"k_site": site, "k_dev": device}
        pending.learnt_boards.add(key)
        if retained:
            if c.execute(_KNOWN, params).first():
                return
        elif c.execute(_SEEN, {**params, "now": now}).rowcount:
            return
        c.execute(insert(_B).values(site=site, device=device, last_seen=now))

    @staticmethod
    def _duplicate(c: Connection, ev: Event) -> bool:
        t_key = -1 if ev.t is None else ev.t
        return c.execute(select(s.events.c.id).where(
            s.events.c.site == ev.site, s.events.c.device == ev.device,
            s.events.c.kind == ev.kind, s.events.c.seq == ev.seq,
            s.events.c.t_key == t_key)).first() is not None

    def _event(self, c: Connection, ev: Event, now: float) -> bool:
        t_key = -1 if ev.t is None else ev.t
        c.execute(insert(s.events).values(site=ev.site, device=ev.device, kind=ev.kind,
                                          seq=ev.seq, t=ev.t, t_key=t_key,
                                          data=json.dumps(ev.data), dropped=ev.dropped,
                                          received_at=now))
        if ev.kind == "bay":
            self._parking(c, ev, now)
        if ev.kind == "boot":
            cause = ev.data.get("cause")
            c.execute(update(s.boards).where(*_board(ev.site, ev.device)).values(
                boot_cause=str(cause)[:64] if cause is not None else None))
        return True

    def _parking(self, c: Connection, ev: Event, now: float) -> None:
        """A totem's `bay` event opens or closes the bay's parking session, dated by the
        totem's clock when it has one."""
        bay, zone, occupied = ev.data.get("bay"), ev.data.get("zone"), ev.data.get("occupied")
        if not (isinstance(bay, str) and isinstance(zone, str) and isinstance(occupied, bool)
                and NAME.match(bay) and NAME.match(zone)):
            return
        t = float(ev.t) if ev.t is not None else now
        ps = s.parking_sessions
        key = (ps.c.site == ev.site, ps.c.totem == ev.device, ps.c.bay == bay,
               ps.c.departed_at.is_(None))
        open_ = c.execute(select(ps.c.id, ps.c.arrived_at).where(*key)).first()
        if occupied and open_ is None:
            c.execute(insert(ps).values(site=ev.site, totem=ev.device, bay=bay, zone=zone,
                                        arrived_at=t))
        elif not occupied and open_ is not None:
            c.execute(update(ps).where(ps.c.id == open_.id)
                      .values(departed_at=max(t, open_.arrived_at)))
            self._alarm(c, ev.site, ev.device, alarms.Clear(alarms.OVERSTAY + bay), now)

    def raise_overstays(self, now: float, max_stay_s: dict[str, float]) -> list[str]:
        """Raise an overstay alarm for each vehicle longer in its bay than its zone's
        maximum stay; the bays raised. Cleared when it leaves (_parking)."""
        ps, raised = s.parking_sessions, []
        with self.engine.begin() as c:
            for r in c.execute(select(ps).where(ps.c.departed_at.is_(None))).all():
                limit = max_stay_s.get(r.zone)
                kind = alarms.OVERSTAY + r.bay
                if limit is None or now - r.arrived_at <= limit or \
                        kind in self._open_alarms(c, r.site, r.totem):
                    continue
                self._alarm(c, r.site, r.totem, alarms.Raise(kind, {
                    "bay": r.bay, "zone": r.zone, "arrived_at": r.arrived_at,
                    "max_stay_min": round(limit / 60)}), now)
                raised.append(r.bay)
        return raised

    def sessions(self, since: float, until: float | None = None) -> list[dict[str, Any]]:
        """Parking sessions that overlap [since, until), oldest first."""
        ps = s.parking_sessions
        q = select(ps).where((ps.c.departed_at.is_(None)) | (ps.c.departed_at >= since))
        if until is not None:
            q = q.where(ps.c.arrived_at < until)
        with self.engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(q.order_by(ps.c.arrived_at))]

    def _state(self, c: Connection, st: State, now: float, pending: Pending) -> None:
        data = json.dumps(st.data)
        key = (st.site, st.device, st.suffix)
        # a bank sends its states again on each reconnect, and the broker its retained copy
        # on each subscription: a period of the cold chain is added to the series once
        new_temps = st.suffix == "temps" and data != self._stored_state(c, key, pending)
        if key in self._states or key in pending.learnt_states:
            pending.states[key] = (data, now)
        elif not c.execute(_STATE, {"k_site": st.site, "k_dev": st.device,
                                    "k_suffix": st.suffix, "data": data, "now": now}
                           ).rowcount:
            c.execute(insert(_BS).values(site=st.site, device=st.device, suffix=st.suffix,
                                         data=data, received_at=now))
        pending.learnt_states.add(key)
        d = st.data
        if st.suffix == "info":
            c.execute(update(s.boards).where(*_board(st.site, st.device)).values(
                role=_text(d.get("role"), 32), fw=_text(d.get("fw"), 64),
                micropython=_text(d.get("micropython"), 64),
                mode=_text(d.get("mode"), 16), safe_error=None))
        elif st.suffix == "energy":
            _energy(c, st, now)
        elif new_temps:
            _temperatures(c, st, now)
        elif alarms.is_safe_mode(st):
            c.execute(update(s.boards).where(*_board(st.site, st.device)).values(
                mode="safe", safe_error=_text(d.get("error"), 500)))

    @staticmethod
    def _stored_state(c: Connection, key: tuple[str, str, str], pending: Pending
                      ) -> str | None:
        """A state's value as this transaction would leave it so far."""
        if key in pending.states:
            return pending.states[key][0]
        site, device, suffix = key
        return c.execute(select(_BS.c.data).where(
            _BS.c.site == site, _BS.c.device == device, _BS.c.suffix == suffix)).scalar()

    @staticmethod
    def _bay(c: Connection, b: BayState, now: float) -> None:
        key = {"site": b.site, "totem": b.totem, "bay": b.bay}
        old = c.execute(select(s.bays.c.occupied, s.bays.c.silent, s.bays.c.since)
                        .where(*_key(s.bays, key))).first()
        changed = old is None or (old.occupied, old.silent) != (b.occupied, b.silent)
        _upsert(c, s.bays, key, {
            "zone": b.zone, "occupied": b.occupied, "silent": b.silent,
            "battery_mv": b.battery_mv, "health": b.health, "confidence": b.confidence,
            "since": now if changed else old.since, "updated_at": now})

    @staticmethod
    def _open_alarms(c: Connection, site: str, device: str) -> dict[str, int]:
        return {r.kind: r.id for r in c.execute(select(s.alarms.c.kind, s.alarms.c.id).where(
            s.alarms.c.site == site, s.alarms.c.device == device,
            s.alarms.c.cleared_at.is_(None)))}

    def _alarm(self, c: Connection, site: str, device: str, change: alarms.Change,
               now: float, pending: Pending | None = None) -> None:
        """Raise, clear or sync a board's alarms within `c`. With `pending`, a clearing
        waits for the flush (every live message clears OFFLINE), and anything else first
        writes the board's waiting clearings, so it sees them."""
        if isinstance(change, alarms.Clear):
            if pending is not None:
                pending.clears.setdefault((site, device, change.kind), now)
            else:
                c.execute(_CLEAR, {"k_site": site, "k_dev": device, "k_kind": change.kind,
                                   "now": now})
            return
        if pending is not None:
            self._flush_clears(c, pending, (site, device))
        standing = self._open_alarms(c, site, device)
        if isinstance(change, alarms.Sync):
            raise_ = [alarms.Raise(k) for k in change.active if k not in standing]
            clear = [alarms.Clear(k) for k in standing
                     if k not in change.active and not alarms.is_console_kind(k)]
            for ch in raise_ + clear:
                self._alarm(c, site, device, ch, now, pending)
        elif isinstance(change, alarms.Raise) and change.kind not in standing:
            try:
                with c.begin_nested():  # another thread may raise the same one meanwhile
                    c.execute(insert(s.alarms).values(
                        site=site, device=device, kind=change.kind,
                        detail=json.dumps(change.detail), raised_at=now))
            except IntegrityError:
                pass  # it stands already: uq_alarms_standing

    def raise_overdue(self, now: float, poll_s: float, missed: int,
                      since: float = 0.0) -> list[str]:
        """Raise OFFLINE for every board last heard more than `missed` polls ago; their
        names. A board in safe mode answers no command, so only its will says it is gone.
        `since`: when polling began; a board is not late for polls it was never sent."""
        raised = []
        with self.engine.begin() as c:
            for b in c.execute(select(s.boards.c.site, s.boards.c.device, s.boards.c.mode,
                                      s.boards.c.last_seen)).all():
                if b.mode != "safe" and \
                        alarms.overdue(max(b.last_seen, since), now, poll_s, missed) and \
                        alarms.OFFLINE not in self._open_alarms(c, b.site, b.device):
                    self._alarm(c, b.site, b.device, alarms.Raise(alarms.OFFLINE, {
                        "reason": f"no answer to {missed} status polls"}), now)
                    raised.append(b.device)
        return raised

    def ack_alarm(self, alarm_id: int, who: str, now: float) -> bool:
        """Acknowledge a standing alarm; False if there is none with that id or it already
        was. The caller audits it."""
        with self.engine.begin() as c:
            return c.execute(update(s.alarms).where(
                s.alarms.c.id == alarm_id, s.alarms.c.acked_at.is_(None))
                .values(acked_at=now, acked_by=who[:64])).rowcount == 1

    def alarms(self, *, standing: bool | None = None, device: str | None = None,
               limit: int | None = 500) -> list[dict[str, Any]]:
        """Newest first; `standing` True for those not cleared, False for cleared ones; only
        `device`'s if given; the newest `limit` (None: all)."""
        q = select(s.alarms).order_by(s.alarms.c.id.desc())
        if limit is not None:
            q = q.limit(limit)
        if device is not None:
            q = q.where(s.alarms.c.device == device)
        if standing is True:
            q = q.where(s.alarms.c.cleared_at.is_(None))
        elif standing is False:
            q = q.where(s.alarms.c.cleared_at.is_not(None))
        with self.engine.connect() as c:
            return [dict(r._mapping, detail=json.loads(r.detail)) for r in c.execute(q)]

    # -- reading ---------------------------------------------------------------------------
    def zones(self, site: str | None = None) -> list[Zone]:
        q = select(s.zones).order_by(s.zones.c.site, s.zones.c.zone, s.zones.c.totem)
        if site is not None:
            q = q.where(s.zones.c.site == site)
        with self.engine.connect() as c:
            return [Zone(**r._mapping) for r in c.execute(q)]

    def parking_mark(self) -> int:
        """A number that moves with every transaction that writes a bay or zone (the
        `parking` counter, bumped at its flush): a mark for the availability snapshot that
        a clock stepping back cannot fool, as write times could."""
        with self.engine.connect() as c:
            return c.execute(select(s.counters.c.value)
                             .where(s.counters.c.name == "parking")).scalar() or 0

    def bays(self, site: str | None = None) -> list[Bay]:
        q = select(s.bays).order_by(s.bays.c.site, s.bays.c.bay, s.bays.c.totem)
        if site is not None:
            q = q.where(s.bays.c.site == site)
        with self.engine.connect() as c:
            return [Bay(**r._mapping) for r in c.execute(q)]

    def boards(self, role: str | None = None) -> list[dict[str, Any]]:
        """Every board heard, or those of one `role` (as their `info` said): a lockers page
        need not read a town's thousands of poles."""
        q = select(s.boards).order_by(s.boards.c.site, s.boards.c.device)
        if role is not None:
            q = q.where(s.boards.c.role == role)
        with self.engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(q)]

    def temperatures(self, site: str, device: str, since: float) -> list[dict[str, Any]]:
        """A bank's cold-chain series from `since` on, oldest first."""
        t = s.temperatures
        with self.engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(
                select(t).where(t.c.site == site, t.c.device == device,
                                t.c.ended_at >= since).order_by(t.c.ended_at, t.c.id))]

    def events(self, site: str, device: str, kind: str | None = None, *,
               last: int | None = None) -> list[dict[str, Any]]:
        """A board's events in the order stored; only the `last` newest if given."""
        q = select(s.events).where(s.events.c.site == site, s.events.c.device == device)
        if kind is not None:
            q = q.where(s.events.c.kind == kind)
        q = q.order_by(s.events.c.id.desc()).limit(last) if last is not None else \
            q.order_by(s.events.c.id)
        with self.engine.connect() as c:
            rows = [dict(r._mapping, data=json.loads(r.data)) for r in c.execute(q)]
        return rows[::-1] if last is not None else rows

    def state(self, site: str, device: str, suffix: str) -> dict[str, Any] | None:
        with self.engine.connect() as c:
            raw = c.execute(select(s.board_states.c.data).where(
                s.board_states.c.site == site, s.board_states.c.device == device,
                s.board_states.c.suffix == suffix)).scalar()
        return None if raw is None else json.loads(raw)

    def states(self, suffix: str) -> dict[tuple[str, str], dict[str, Any]]:
        """Every board's state `suffix`, by (site, device), in one query: a page of a
        town's boards must not ask once per board."""
        with self.engine.connect() as c:
            return {(r.site, r.device): json.loads(r.data) for r in c.execute(
                select(_BS.c.site, _BS.c.device, _BS.c.data).where(_BS.c.suffix == suffix))}

    def state_since(self, site: str, device: str, suffix: str,
                    since: float) -> dict[str, Any] | None:
        """The state or reply `suffix` if it was received at or after `since`."""
        with self.engine.connect() as c:
            raw = c.execute(select(s.board_states.c.data).where(
                s.board_states.c.site == site, s.board_states.c.device == device,
                s.board_states.c.suffix == suffix,
                s.board_states.c.received_at >= since)).scalar()
        return None if raw is None else json.loads(raw)

    def pole_nights(self, site: str, device: str, nights: int = 14) -> list[dict[str, Any]]:
        """The last `nights` nights of a pole, oldest first, with `wh` and `burn_h` used in
        each (last counter less first: what it used while the console heard it)."""
        with self.engine.connect() as c:
            rows = c.execute(select(s.pole_nights).where(
                s.pole_nights.c.site == site, s.pole_nights.c.device == device)
                .order_by(s.pole_nights.c.night.desc()).limit(nights)).all()
        return [{"night": r.night, "wh": round(max(0.0, r.wh_last - r.wh_first), 1),
                 "burn_h": round(max(0.0, r.burn_last - r.burn_first), 2)}
                for r in reversed(rows)]

    def version(self) -> str:
        """A mark that changes whenever something a staff page shows may have: a state, an
        event, an alarm's life. Cheap: a few maxima over indexed or small tables."""
        a = s.alarms
        with self.engine.connect() as c:
            states = c.execute(select(func.max(s.board_states.c.received_at))).scalar()
            events = c.execute(select(func.max(s.events.c.id))).scalar()
            alarm = c.execute(select(func.count(), func.max(a.c.acked_at),
                                     func.max(a.c.cleared_at))).first()
            seen = c.execute(select(func.max(s.boards.c.last_seen))).scalar()
        return json.dumps([states, events, list(alarm or ()), seen])

    def groups(self) -> dict[str, list[str]]:
        """Groups of poles by name (lights.py)."""
        with self.engine.connect() as c:
            return {r.name: json.loads(r.members) for r in c.execute(
                select(s.pole_groups).order_by(s.pole_groups.c.name))}

    def save_group(self, name: str, members: list[str], now: float) -> None:
        """Save or replace a group (web handlers call this from several threads: a group
        made twice at once is saved once, the later one winning)."""
        values = {"members": json.dumps(sorted(set(members))), "updated_at": now}
        try:
            with self.engine.begin() as c:
                _upsert(c, s.pole_groups, {"name": name}, values)
        except IntegrityError:
            with self.engine.begin() as c:
                c.execute(update(s.pole_groups).where(s.pole_groups.c.name == name)
                          .values(**values))

    def delete_group(self, name: str) -> bool:
        with self.engine.begin() as c:
            return c.execute(s.pole_groups.delete().where(
                s.pole_groups.c.name == name)).rowcount == 1

    def malformed_count(self) -> int:
        with self.engine.connect() as c:
            return self._count(c)

    def malformed(self, limit: int = 50) -> list[dict[str, Any]]:
        with self.engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(
                select(s.malformed).order_by(s.malformed.c.id.desc()).limit(limit))]

    def event_count(self) -> int:
        with self.engine.connect() as c:
            return c.execute(select(func.count()).select_from(s.events)).scalar() or 0


def night_of(t: float) -> str:
    """The night a time belongs to, named by its evening's date: a day runs from noon UTC to
    noon UTC, so one night's hours share a name."""
    return datetime.fromtimestamp(t - 12 * 3600, UTC).strftime("%Y-%m-%d")


def _energy(c: Connection, st: State, now: float) -> None:
    """A pole's `energy` counters (docs/lighting.md): the first and last of each night."""
    wh, burn = st.data.get("wh"), st.data.get("burn_h")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and v >= 0
               for v in (wh, burn)):
        return
    key = {"site": st.site, "device": st.device, "night": night_of(now)}
    if c.execute(update(s.pole_nights).where(*_key(s.pole_nights, key))
                 .values(wh_last=wh, burn_last=burn, updated_at=now)).rowcount == 0:
        c.execute(insert(s.pole_nights).values(**key, wh_first=wh, wh_last=wh,
                                                burn_first=burn, burn_last=burn,
                                                updated_at=now))


def _temperatures(c: Connection, st: State, now: float) -> None:
    """A locker bank's `temps` state (its ColdLog) added to the series: a row per
    compartment whose figures are what the bank sends; anything else in it is left out.
    Dated by the bank's clock (`t`, the period's end) when it has one."""
    every, comps, t = st.data.get("every_s"), st.data.get("c"), st.data.get("t")
    if not (_is_int(every) and 1 <= every <= 86400 and isinstance(comps, dict)):
        return
    at = float(t) if _is_int(t) and 0 < t <= MAX_TIME else now
    rows = []
    for n, v in list(comps.items())[:49]:
        if not (COMPARTMENT.fullmatch(n) and isinstance(v, dict)):
            continue
        temps = [v.get(k) for k in ("min", "max", "last", "max_c")]
        failed = v.get("failed")
        if not (all(x is None or _is_celsius(x) for x in temps) and _is_int(failed)
                and 0 <= failed < 2**31):
            continue
        rows.append({"site": st.site, "device": st.device, "compartment": int(n),
                     "ended_at": at, "every_s": every, "min_c": temps[0],
                     "max_c": temps[1], "last_c": temps[2], "failed": failed,
                     "limit_c": temps[3]})
    if rows:
        c.execute(insert(s.temperatures), rows)
        # the bank's series older than COLD_KEPT_S goes as new rows come, by the console's
        # clock: a bank whose clock ran far ahead must not wipe its own record
        t_ = s.temperatures
        c.execute(t_.delete().where(t_.c.site == st.site, t_.c.device == st.device,
                                    t_.c.ended_at < now - COLD_KEPT_S))


COMPARTMENT = re.compile(r"[1-9]|[1-4][0-9]")  # a bank's compartment number, 1..49


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_celsius(v: Any) -> bool:
    """A temperature a compartment's sensor can report (the TMP102 reads -55..128 °C)."""
    return isinstance(v, int | float) and not isinstance(v, bool) and -60 <= v <= 130


def _device(obs: Status | Event | State | BayState | ZoneState) -> str:
    return obs.totem if isinstance(obs, BayState | ZoneState) else obs.device


def _board(site: str, device: str) -> tuple[Any, Any]:
    return s.boards.c.site == site, s.boards.c.device == device


def _key(table: Table, key: dict[str, Any]) -> list[Any]:
    return [table.c[k] == v for k, v in key.items()]


def _upsert(c: Connection, table: Table, key: dict[str, Any], values: dict[str, Any]) -> None:
    """Update the row with `key`, or insert it: portable across SQLite and PostgreSQL. Two
    threads inserting the same new key at once would collide on it: the ingest's writer is
    the only writer of the tables it is used on (boards, states, bays, zones, counters), and
    save_group catches the collision."""
    if c.execute(update(table).where(*_key(table, key)).values(**values)).rowcount == 0:
        c.execute(insert(table).values(**key, **values))


def _text(v: Any, n: int) -> str | None:
    return None if v is None else str(v)[:n]
