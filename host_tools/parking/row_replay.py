"""A whole row of bays replayed as installed: one sensor node per bay and the totem, on the
row's common clock, in virtual time (``../shared/parking/ROW-FORMAT.md``).

Why a replay of the row and not of each bay: the totem's word (``rows``, ``wants_hint``,
MOVING) is what a node hears of its neighbours, and a neighbour's word is its own node's
decisions, late and sometimes lost. Only a replay in which every bay's node runs, reports
over a lossy radio and asks the totem measures that.

What runs is the firmware's own pure modules, the very files the board runs: ``detector``,
``gate`` (wake on change), ``reports`` (frames, the report outbox, the ACK's neighbour
age), ``uplink`` (what a wake sends and what the ACK means) and ``bays`` (the totem's view
and its answers). ``RowNode`` is the glue of ``sensor_app.Node.run`` (which needs the chip's
``machine``/``espnow``), step for step: ``_sample``, ``_radio``, ``_changed``, the gate's
arm/follow loop. Left out: recalibration on staff's word (no one asks in a replay), the
battery ADC (no LOW_BATTERY flag).

The information rule (ROW-FORMAT.md): a node reads its bay's field only through its
``Sensor``, one sample at the second it is taken (``make_sensor``); it hears of the other
bays only in the ACK bytes the totem sends it, made by ``bays.Bays`` from the frames that had
reached the totem by then. The event order within a second follows the radio's milliseconds.

Radio (ESP-NOW unicast; a model, not a measurement): a node's frame leaves ``tx_ms``
(uniform 20..60 ms: wake, radio start) after its sample, each way takes ``air_ms`` (uniform
1..4 ms, the emulator's figure), and each frame, the node's and the totem's ACK alike, is
lost with probability ``loss`` (5 %: what is left after the 802.11 MAC's own retries, for an
in-ground antenna, at times under a car). A lost REPORT or ACK is retried by the node's
``Outbox`` (5 tries, 2, 4, 6, 8 s apart); a question whose ACK is lost gets no answer (the
detector decides alone). Seeded per bay, so a replay is reproducible.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from host_tools.parking import fw
from host_tools.parking.rows import Row

HEARTBEAT_S = 1800  # sensor and totem schema defaults (heartbeat_s)
MISSED = 3  # totem schema default
ACK_MS = 60  # sensor schema default: how long a node listens for the ACK
TICK_MS = 5000  # the totem's tick_task period
DETECTORS = ("bourg", "bourg_gated")
Tap = Callable[[int, int, bytes | None], bytes | None]


@dataclass
class RadioModel:
    """The radio between a node and the totem (module docstring has the reasons)."""
    loss: float = 0.05
    air_ms: tuple[float, float] = (1.0, 4.0)
    tx_ms: tuple[float, float] = (20.0, 60.0)


class Link:
    """One node's radio path to the totem, with its own seeded generator: whether a frame
    gets through never depends on another bay's traffic."""

    def __init__(self, model: RadioModel, seed: int, bay_id: str) -> None:
        self.m = model
        self.rng = random.Random(f"bourg-row-radio/{seed}/{bay_id}")

    def draw(self) -> tuple[float, bool, float, bool, float]:
        """(send delay, frame lost, its air time, ACK lost, its air time), all drawn for every
        frame so the stream stays aligned whatever happens to the frame."""
        r, m = self.rng, self.m
        return (r.uniform(*m.tx_ms), r.random() < m.loss, r.uniform(*m.air_ms),
                r.random() < m.loss, r.uniform(*m.air_ms))


class Sensor:
    """A bay's magnetometer: the field of its own bay at the second asked, nothing else (no
    ``occupied`` column, no other bay)."""

    def __init__(self, bx: list[float], by: list[float], bz: list[float],
                 temp: list[float]) -> None:
        self._cols = (bx, by, bz, temp)

    def read(self, i: int) -> tuple[float, float, float, float]:
        bx, by, bz, temp = self._cols
        return bx[i], by[i], bz[i], temp[i]


def make_sensor(row: Row, k: int) -> Sensor:
    """Bay k's sensor: the one place the replay hands a trace's field to a node."""
    tr = row.traces[k]
    return Sensor(tr.bx, tr.by, tr.bz, tr.temp)


@dataclass
class Activity:
    """What one node did (for the battery estimate and to see the radio at work)."""
    samples: int = 0  # detector updates (1 Hz samples taken)
    int_wakes: int = 0  # gated: deep-sleep wakes by the chip's interrupt
    timer_wakes: int = 0  # gated: wakes by the check-in/retry timer
    changes: int = 0
    reports: int = 0  # REPORT frames sent (first tries and retries)
    heartbeats: int = 0  # HEARTBEAT frames sent (due, questions, moving)
    questions: int = 0  # frames asking about the neighbours (wants_hint)
    moving: int = 0  # frames flagged MOVING
    answered: int = 0  # questions whose ACK vouched for the neighbours
    lost: int = 0  # frames that did not reach the totem
    acks_lost: int = 0  # frames the totem answered whose ACK the node did not get


@dataclass
class Tx:
    frame: bytes
    wait: bool
    kind: str
    seq: int
    question: bool


class RowNode:
    """One bay's node: ``sensor_app.Node`` with the radio and the sleep made events. Per
    second: ``step`` (wake or not, sample, what to send), then ``finish`` (the ACK if any,
    then the gate: sleep behind the threshold or follow)."""

    def __init__(self, node: int, key: bytes, gated: bool,
                 det_params: dict[str, Any] | None = None,
                 gate_params: dict[str, Any] | None = None,
                 heartbeat_s: int = HEARTBEAT_S) -> None:
        self.gate = fw.load("gate")
        self.rep = fw.load("reports")
        self.node, self.key, self.gated = node, key, gated
        self.gate_params = self.gate.params(gate_params)
        params = self.gate.detector_params(det_params) if gated else det_params
        self.det = fw.load("detector").Detector(params)
        self.uplink = fw.load("uplink")
        self.up = self.uplink.Uplink(key, node, 1, 0, self.rep.Outbox(heartbeat_s))
        self.act = Activity()
        self.changes, self.occupied = 0, False
        self.armed, self.awake = False, False
        self.ref: tuple[float, float, float] = (0.0, 0.0, 0.0)
        self.wake_at = self.last_s = self.t0 = self.last_change = self.calm_since = 0
        self.followed = 0

    def start(self, now: int) -> None:
        """Power-on: a new epoch, and the bay announced as a REPORT retried until acked."""
        self.last_change = self.calm_since = self.last_s = self.t0 = now
        self.up.report(now)

    def step(self, now: int, sample: tuple[float, float, float, float]) -> Tx | None:
        """This second's sample if the node is awake for it; the frame to send, if any."""
        self.awake = False
        gap = 1
        if self.armed:
            bx, by, bz, _ = sample
            if self.gate.tripped(self.ref, bx, by, bz, self.gate_params["wake_ut"]):
                self.act.int_wakes += 1
            elif now >= self.wake_at:
                self.act.timer_wakes += 1
            else:
                return None
            self.armed = False
            # after a sleep behind the threshold, the first sample stands for the whole gap
            gap = now - self.last_s if now > self.last_s else 1
            self.followed, self.t0 = 0, now
        self.awake = True
        self._sample(now, sample, gap)
        return self._radio(now)

    def _sample(self, now: int, sample: tuple[float, float, float, float], gap: int) -> None:
        bx, by, bz, temp = sample
        occ = self.det.update(now, bx, by, bz, temp, gap)
        self.act.samples += 1
        if self.det.calm == 0:
            self.calm_since = now
        if occ != self.occupied:
            self.occupied = occ
            self.changes += 1
            self.act.changes += 1
            self.last_change = now
            self.up.report(now)

    def _radio(self, now: int) -> Tx | None:
        """sensor_app.Node._radio up to the send, through the same Uplink: what goes out this
        wake, if anything (no battery reading, no recalibration here)."""
        det, up = self.det, self.up
        question, moving = det.wants_hint, det.moving
        plan = up.plan(now, question, moving)
        if plan is None:
            return None
        kind, wait = plan
        fl = self.uplink.flags(self.occupied, moving=moving)
        frame = up.frame(kind, now, fl, int(det.confidence * 100), int(det.health * 100), 0,
                         int(det.temp), self.changes, now - self.last_change)
        a = self.act
        a.reports += kind == "report"
        a.heartbeats += kind == "heartbeat"
        a.questions += question
        a.moving += moving
        return Tx(frame, wait, kind, up.seq, question)

    def finish(self, now: int, tx: Tx | None, ack_bytes: bytes | None) -> None:
        """The rest of the wake: the ACK (if awaited and heard), then the gate."""
        if tx is not None and tx.wait:
            ack = None if ack_bytes is None else self.up.ack_of(ack_bytes)
            if tx.question:
                age, every = self.rep.neighbour_age(ack)
                self.act.answered += age is not None
                self.det.neighbour_hint(age, max(0, now - self.calm_since), every)
            self.up.settle(ack)
        if not self.awake:
            return
        self.last_s = now
        if not self.gated:
            return
        g = self.gate_params
        if self.gate.may_arm(self.det, g, self.followed) or now - self.t0 >= g["follow_max_s"]:
            self.ref = (self.det.prev[0], self.det.prev[1], self.det.prev[2])
            self.armed = True
            self.wake_at = now + self.gate.next_wake_s(now, now, g["checkin_s"],
                                                       self.up.box.next_due())
        else:
            self.followed += 1


@dataclass
class RowReplay:
    preds: dict[str, list[int]]
    activity: dict[str, Activity]
    days: float
    totem: dict[str, int] = field(default_factory=dict)
    states: dict[str, bytes] = field(default_factory=dict)

    def activity_per_day(self) -> dict[str, dict[str, float]]:
        d = self.days or 1.0
        return {b: {k: round(v / d, 2) for k, v in asdict(a).items()}
                for b, a in self.activity.items()}


def _key(seed: int, bay_id: str) -> bytes:
    return hashlib.sha256(f"bourg-row-key/{seed}/{bay_id}".encode()).digest()[:16]


def totem_rows(row: Row) -> list[list[str]]:
    """The totem's ``app.rows`` an installer would write for this row: the bays in street
    order, with ``""`` for the unsensed bay beyond each end where there is one."""
    end = [""] if row.unsensed_ends else []
    return [end + list(row.ids) + end]


def replay_row(row: Row, detector: str = "bourg", totem: bool = True, seed: int = 0,
               radio: RadioModel | None = None, det_params: dict[str, Any] | None = None,
               gate_params: dict[str, Any] | None = None, tap: Tap | None = None,
               snapshot_at: int | None = None) -> RowReplay:
    """Every bay's node and the totem over the row's clock. ``totem`` False: the node alone,
    the totem without ``rows`` (it acks, but never vouches for neighbours). ``tap(k, ms,
    ack)`` sees each ACK the totem makes for node k's awaited frames, and returns the one to
    deliver (tests record and replay the totem's side with it). ``snapshot_at``: keep every
    node's detector state (``to_bytes``) after that sample, for the information-rule tests."""
    if detector not in DETECTORS:
        raise ValueError(f"detector must be one of {DETECTORS}")
    model = radio or RadioModel()
    n = len(row.ids)
    keys = {k + 1: _key(seed, b) for k, b in enumerate(row.ids)}
    spec = [{"node": k + 1, "bay": b, "zone": "row"} for k, b in enumerate(row.ids)]
    bays = fw.load("bays").Bays(spec, keys, HEARTBEAT_S, MISSED,
                                totem_rows(row) if totem else [])
    nodes = [RowNode(k + 1, keys[k + 1], detector == "bourg_gated", det_params, gate_params)
             for k in range(n)]
    sensors = [make_sensor(row, k) for k in range(n)]
    links = [Link(model, seed, b) for b in row.ids]
    preds: list[list[int]] = [[] for _ in range(n)]
    next_tick = None
    states: dict[str, bytes] = {}
    for i, t in enumerate(row.t):
        now = int(t)
        sent = []
        for k, node in enumerate(nodes):
            if i == 0:
                node.start(now)
            tx = node.step(now, sensors[k].read(i))
            if tx is None:
                node.finish(now, None, None)
            else:
                d_tx, lost, up, ack_lost, down = links[k].draw()
                sent.append((now * 1000 + d_tx + up, k, tx, lost, ack_lost, up + down))
        # the totem takes the frames in the order they reach it, within the second too
        for arrive, k, tx, lost, ack_lost, rtt in sorted(sent, key=lambda s: (s[0], s[1])):
            ack = None
            if lost:
                nodes[k].act.lost += 1
            else:
                made = bays.receive(tx.frame, int(arrive))
                if tx.wait:
                    if tap is not None:
                        made = tap(k, int(arrive), made)
                    if made is not None and (ack_lost or rtt > ACK_MS):
                        nodes[k].act.acks_lost += 1
                    else:
                        ack = made
            nodes[k].finish(now, tx, ack)
        for k, node in enumerate(nodes):
            preds[k].append(1 if node.occupied else 0)
        if i == snapshot_at:
            states = {b: nodes[k].det.to_bytes() for k, b in enumerate(row.ids)}
        if next_tick is None or now * 1000 >= next_tick:
            bays.tick(now * 1000)
            next_tick = now * 1000 + TICK_MS
    days = (row.t[-1] - row.t[0] + 1) / 86400.0 if row.t else 0.0
    return RowReplay({b: preds[k] for k, b in enumerate(row.ids)},
                     {b: nodes[k].act for k, b in enumerate(row.ids)}, days,
                     dict(bays.stats), states)
