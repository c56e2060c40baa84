"""Night simulation in virtual time (../shared/lighting/SCENARIO.md).

Every pole is the firmware's pole core, `pole.Pole` from firmware/lighting (presence
debounce, the neighbour wave, the dimmer), commissioned with an "app" config section checked
by the board's own config validator, and driven as the board's control task drives it
(pole_app.py): the simulator hands it the profile's levels, presence edges and the frames it
hears with the virtual time, steps it at the deadlines it asks for (next_ms), and reads back
its output level and the frames it broadcasts (take_tx). In the world around the poles:
- a pole's presence input is on while any mover is within sensor.range_m of it;
- radio frames go to the adjacent poles (one hop each way), each delivery after
  hop_ms + U(0, jitter_ms) and lost with probability `loss` (seeded);
- every change of a pole's output, ramp steps included, is a row of the levels CSV.

Controllers are commissionings of that same pole: "bourg" (this firmware), "peer" (local
motion -> 100 %, 5 min hold, idle 20 %; its neighbour message asks for 20 %, its idle level,
so its radio is left out) and "schedule" (no sensor: 100 % for 4 h, 50 % until 2 h before
dawn, then 100 %).
"""

from __future__ import annotations

import copy
import heapq
import itertools
import math
import random
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from host_tools.build import fwmodules
from host_tools.lighting import fw

HEADER = "t_s,pole_id,level_pct"
SITE_KEY = b"bourg-sim-site-key"
EPOCH = 1  # the poles' boot counter, carried in their frames
BOOT_MS = -10000  # poles boot (fail-safe 100 %) before dusk and are settled at t = 0
EVENING_MIN = 18 * 60  # dusk on the virtual clock (local minutes of day D)

Row = tuple[int, int, float]  # t_ms, pole index, level %
App = dict[str, Any]  # a pole's "app" config section

# What happens to a pole at an instant of the night (Event.kind) and what the event carries:
LEVELS = "levels"  # a period of the profile starts or ends: (base, presence, dark)
SENSOR = "sensor"  # the presence input goes on or off: bool
FRAME = "frame"  # a neighbour's ESP-NOW frame arrives: bytes
WAKE = "wake"  # the pole's own deadline (ramp step, hold end, debounce, refresh): None


class Event(NamedTuple):
    t_ms: int
    order: int  # events of the same millisecond in the order they were queued
    kind: str
    pole: int
    data: Any = None


def mover_span(m: dict[str, Any]) -> tuple[float, float, int, float]:
    """(t_start, t_end, direction, speed) of a mover."""
    d = 1 if m["to_x_m"] >= m["from_x_m"] else -1
    v = float(m["speed_mps"])
    return m["t_s"], m["t_s"] + abs(m["to_x_m"] - m["from_x_m"]) / v, d, v


def sensor_intervals(sc: dict[str, Any]) -> list[list[tuple[int, int]]]:
    """Per pole, merged [on_ms, off_ms) intervals when a mover is within range."""
    r = float(sc["sensor"]["range_m"])
    out: list[list[tuple[int, int]]] = []
    spans = [(m, *mover_span(m)) for m in sc["movers"]]
    for p in sc["poles"]:
        xp = float(p["x_m"])
        iv = []
        for m, t0, t1, d, v in spans:
            a = float(m["from_x_m"])
            ta = t0 + (xp - r - a) / (d * v)
            tb = t0 + (xp + r - a) / (d * v)
            lo, hi = max(t0, min(ta, tb)), min(t1, max(ta, tb))
            if hi > lo:
                on, off = math.ceil(lo * 1000 - 1e-6), math.ceil(hi * 1000 - 1e-6)
                if off > on:
                    iv.append((on, off))
        iv.sort()
        merged: list[tuple[int, int]] = []
        for on, off in iv:
            if merged and on <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], off))
            else:
                merged.append((on, off))
        out.append(merged)
    return out


# ---- commissioning: every pole's "app" section, as in its config.json ---------------------
def _per_pole(sc: dict[str, Any], street: App, entry_level: float = 0) -> list[App]:
    """The street's settings for each pole, with its position; the two poles at the street
    ends get entry_level."""
    last = len(sc["poles"]) - 1
    return [dict(copy.deepcopy(street), x_m=float(p["x_m"]),
                 entry_level=entry_level if i in (0, last) else 0)
            for i, p in enumerate(sc["poles"])]


def _periods(*periods: tuple[str, str, float, float]) -> dict[str, Any]:
    return {"periods": [{"name": f"p{i}", "start": a, "end": b, "base": base,
                         "presence": pres} for i, (a, b, base, pres) in enumerate(periods)]}


def bourg_config(sc: dict[str, Any]) -> list[App]:
    """Commissioning of the street from its lighting class: presence level = the highest
    level required under a mover, neighbour/ahead level = the highest level required ahead of
    one, and so is the entry poles' idle level (entry_level); the rest is the firmware's
    defaults."""
    req = sc["required"].values()
    under = max(r["under_pct"] for r in req)
    ahead = max(r["ahead_pct"] for r in req)
    xs = [float(p["x_m"]) for p in sc["poles"]]
    spacing = statistics.median([b - a for a, b in zip(xs, xs[1:], strict=False)]) \
        if len(xs) > 1 else 30.0
    return _per_pole(sc, {"profile": _periods(("sunset", "sunrise", 0, under)),
                          "wave": {"nb_level": ahead, "ahead_level": ahead,
                                   "spacing_m": spacing}}, entry_level=ahead)


def peer_config(sc: dict[str, Any]) -> list[App]:
    return _per_pole(sc, {"profile": _periods(("sunset", "sunrise", 20, 100)),
                          "dimmer": {"hold_ms": 300000}})


def schedule_config(sc: dict[str, Any]) -> list[App]:
    if sc["night_s"] <= 6 * 3600:  # too short for the 50 % part
        return _per_pole(sc, {"profile": _periods(("sunset", "sunrise", 100, 100))})
    return _per_pole(sc, {"profile": _periods(("sunset", "sunset+240", 100, 100),
                                              ("sunset+240", "sunrise-120", 50, 50),
                                              ("sunrise-120", "sunrise", 100, 100))})


class Controller(NamedTuple):
    apps: Callable[[dict[str, Any]], list[App]]  # every pole's app section
    sensors: bool  # presence sensors wired
    radio: bool  # the poles hear each other's frames


COMMISSIONING = {"bourg": Controller(bourg_config, True, True),
                 "peer": Controller(peer_config, True, False),
                 "schedule": Controller(schedule_config, False, False)}
CONTROLLERS = tuple(COMMISSIONING)


def checked_apps(sc: dict[str, Any], apps: list[App]) -> list[App]:
    """Each pole's app section as the board takes it at boot: checked by the firmware's config
    validator against pole_schema.SCHEMA, defaults filled in. ValueError names the pole and
    the key path of the first problem."""
    if len(apps) != len(sc["poles"]):
        raise ValueError(f"{len(apps)} app configs for {len(sc['poles'])} poles")
    config = fwmodules.bourg_module("configcheck")
    schema = fw.load("pole_schema").SCHEMA
    out = []
    for p, app in zip(sc["poles"], apps, strict=True):
        try:
            out.append(config.validate(copy.deepcopy(app), schema, "app", f"pole {p['id']}"))
        except config.ConfigError as e:
            raise ValueError(str(e)) from None
    return out


def level_changes(app: App, night_ms: int) -> list[tuple[int, tuple[float, float, bool]]]:
    """(t_ms, (base, presence, dark)) at t = 0 and wherever a period of the pole's profile
    starts or ends within the night, on the virtual clock (dusk at EVENING_MIN, sunrise
    night_ms later): what the board's schedule task hands its core (it looks every 5 s)."""
    nightprofile = fw.load("nightprofile")
    profilecheck = fw.load("profilecheck")
    sunrise = EVENING_MIN + night_ms // 60000 - 1440  # resolve() puts sunrise on day D+1
    periods = nightprofile.resolve(profilecheck.validate(app["profile"]), EVENING_MIN, sunrise)
    cuts = {0} | {(m - EVENING_MIN) * 60000 for p in periods for m in p[:2]}
    out = []
    for t in sorted(c for c in cuts if 0 <= c < night_ms):
        got = nightprofile.lookup(periods, EVENING_MIN + t / 60000)
        out.append((t, (got[0], got[1], True) if got else (0, 0, False)))
    return out


# ---- the night ----------------------------------------------------------------------------
@dataclass
class _Pole:
    """A pole of the simulated street: its core and the simulator's bookkeeping."""

    idx: int
    core: Any  # pole.Pole
    last: float | None = None  # the level of its last row
    last_t: int | None = None
    last_row: int = -1
    wake: int | None = None  # its earliest WAKE in the queue


def _feed(core: Any, ev: Event) -> None:
    """One input to a pole core, as pole_app's tasks hand it over."""
    if ev.kind == LEVELS:
        base, presence, dark = ev.data
        core.levels(base, presence, ev.t_ms, dark)
    elif ev.kind == SENSOR:
        core.sensor(0, ev.data, ev.t_ms)
    elif ev.kind == FRAME:
        core.radio(ev.data, ev.t_ms)
    else:
        core.step(ev.t_ms)


class _Street:
    """The poles of a street through one night: an event queue over virtual milliseconds."""

    def __init__(self, sc: dict[str, Any], apps: list[App], ctl: Controller, loss: float,
                 seed: int, hop_ms: int, jitter_ms: int) -> None:
        pole = fw.load("pole")
        self.night_ms = int(round(float(sc["night_s"]) * 1000))
        self.radio, self.loss, self.hop_ms, self.jitter_ms = ctl.radio, loss, hop_ms, jitter_ms
        self.rng = random.Random(seed)
        self.queue: list[Event] = []
        self.order = itertools.count()
        self.rows: list[Row] = []
        self.poles = []
        for i, app in enumerate(apps):
            mac = bytes([0x24, 0x0A, 0xC4, 0x00, i >> 8, i & 0xFF])
            p = _Pole(i, pole.Pole(app, mac, SITE_KEY, EPOCH, BOOT_MS))
            self.poles.append(p)
            (_, first), *later = level_changes(app, self.night_ms)
            p.core.levels(*first[:2], BOOT_MS, first[2])
            p.core.ready(BOOT_MS)
            for t, levels in later:
                self.push(t, LEVELS, i, levels)
        if ctl.sensors:
            for i, ivs in enumerate(sensor_intervals(sc)):
                for on, off in ivs:
                    if on < self.night_ms:
                        self.push(on, SENSOR, i, True)
                        self.push(off, SENSOR, i, False)

    def push(self, t: int, kind: str, idx: int, data: Any = None) -> None:
        heapq.heappush(self.queue, Event(t, next(self.order), kind, idx, data))

    def run(self) -> list[Row]:
        for p in self.poles:
            self.settle(p, 0)
        while self.queue:
            ev = heapq.heappop(self.queue)
            if ev.t_ms > self.night_ms:
                break
            p = self.poles[ev.pole]
            if ev.kind == WAKE and p.wake == ev.t_ms:
                p.wake = None
            _feed(p.core, ev)
            self.settle(p, ev.t_ms)
        self.rows.sort(key=lambda r: (r[0], r[1]))
        return self.rows

    def settle(self, p: _Pole, t: int) -> None:
        """After an input: broadcast what the pole hands back, write its level, queue its next
        deadline."""
        for frame in p.core.take_tx():
            if self.radio:
                self.broadcast(p, frame, t)
        self.record(p, t)
        nxt = p.core.next_ms(t)
        if nxt is not None and nxt > t and (p.wake is None or nxt < p.wake):
            p.wake = nxt
            self.push(nxt, WAKE, p.idx)

    def broadcast(self, p: _Pole, frame: bytes, t: int) -> None:
        for j in (p.idx - 1, p.idx + 1):
            if 0 <= j < len(self.poles) and self.rng.random() >= self.loss:
                self.push(t + self.hop_ms + int(self.rng.random() * self.jitter_ms), FRAME, j,
                          frame)

    def record(self, p: _Pole, t: int) -> None:
        lvl = p.core.level(t)
        if lvl == p.last:
            return
        if p.last_t == t:  # changed twice within the same millisecond: keep the final level
            self.rows[p.last_row] = (t, p.idx, lvl)
        else:
            p.last_row, p.last_t = len(self.rows), t
            self.rows.append((t, p.idx, lvl))
        p.last = lvl


def simulate(sc: dict[str, Any], controller: str = "bourg", loss: float = 0.0, seed: int = 0,
             hop_ms: int = 50, jitter_ms: int = 20,
             apps: list[App] | None = None) -> list[Row]:
    """Rows (t_ms, pole index, level %) in time order, starting with every pole at t = 0.
    apps: every pole's "app" config section (default: the controller's commissioning)."""
    if controller not in COMMISSIONING:
        raise ValueError(f"controller must be one of {CONTROLLERS}")
    if not 0.0 <= loss <= 1.0:
        raise ValueError("loss must be within 0..1")
    if hop_ms < 50:
        raise ValueError("a radio hop takes at least 50 ms")
    ctl = COMMISSIONING[controller]
    apps = checked_apps(sc, ctl.apps(sc) if apps is None else apps)
    return _Street(sc, apps, ctl, loss, seed, hop_ms, jitter_ms).run()


def fmt_level(v: float) -> str:
    s = f"{v:.1f}"
    return s[:-2] if s.endswith(".0") else s


def write_csv(sc: dict[str, Any], rows: list[Row], path: str | Path) -> None:
    ids = [p["id"] for p in sc["poles"]]
    with open(path, "w") as f:
        f.write(HEADER + "\n")
        for t, i, lvl in rows:
            f.write(f"{t / 1000:.3f},{ids[i]},{fmt_level(lvl)}\n")
