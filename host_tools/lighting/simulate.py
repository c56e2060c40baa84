"""Night simulation in virtual time (../shared/lighting/SCENARIO.md).

Every pole runs the firmware's own control modules (firmware/lighting: nightprofile, dimmer,
lightwave, frames) in an event-driven loop over virtual milliseconds:
- a pole's presence input is on while any mover is within sensor.range_m of it;
- radio frames go to the adjacent poles (one hop each way), each delivery after
  hop_ms + U(0, jitter_ms) and lost with probability `loss` (seeded);
- every change of a pole's output, ramp steps included, is a row of the levels CSV.

Controllers: "bourg" (this firmware), "peer" (local motion -> 100 %, neighbour -> 20 %,
5 min hold, idle 20 %) and "schedule" (100 % for 4 h, 50 % until 2 h before dawn, then 100 %).
"""

from __future__ import annotations

import heapq
import math
import random
import statistics
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from . import fw

CONTROLLERS = ("bourg", "peer", "schedule")
HEADER = "t_s,pole_id,level_pct"
SITE_KEY = b"bourg-sim-site-key"
BOOT_MS = -10000  # poles boot (fail-safe 100 %) before dusk and are settled at t = 0
EVENING_MIN = 18 * 60  # dusk on the virtual clock (local minutes of day D)

Row = tuple[int, int, float]  # t_ms, pole index, level %


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


def bourg_config(sc: dict[str, Any]) -> dict[str, Any]:
    """Commissioning of the street from its lighting class: presence level = the highest
    level required under a mover, neighbour/ahead level (and the entry poles' idle level)
    = the highest level required ahead of one."""
    req = sc["required"].values()
    under = max(r["under_pct"] for r in req)
    ahead = max(r["ahead_pct"] for r in req)
    xs = [float(p["x_m"]) for p in sc["poles"]]
    spacing = statistics.median([b - a for a, b in zip(xs, xs[1:], strict=False)]) \
        if len(xs) > 1 else 30.0
    return {
        "profile": {"periods": [{"name": "night", "start": "sunset", "end": "sunrise",
                                 "base": 0, "presence": under}]},
        "entry_level": ahead,
        "dimmer": {"ramp_up_ms": 250, "ramp_down_ms": 3000, "hold_ms": 15000,
                   "safe_level": 100},
        "wave": {"nb_hops": 1, "nb_level": ahead, "ahead_level": ahead,
                 "spacing_m": spacing, "lead_s": 4.0, "max_hops": 3,
                 "max_gap_m": 1.6 * spacing},
    }


class _Pole:
    def __init__(self, idx: int, pid: str, x: float) -> None:
        self.idx, self.id, self.x = idx, pid, x
        self.dimmer: Any = None
        self.wave: Any = None
        self.last: float | None = None
        self.last_t: int | None = None
        self.last_row = -1
        self.wake: int | None = None
        self.entry = False


def simulate(sc: dict[str, Any], controller: str = "bourg", loss: float = 0.0, seed: int = 0,
             hop_ms: int = 50, jitter_ms: int = 20,
             config: dict[str, Any] | None = None) -> list[Row]:
    """Rows (t_ms, pole index, level %) in time order, starting with every pole at t = 0."""
    if controller not in CONTROLLERS:
        raise ValueError(f"controller must be one of {CONTROLLERS}")
    if not 0.0 <= loss <= 1.0:
        raise ValueError("loss must be within 0..1")
    if hop_ms < 50:
        raise ValueError("a radio hop takes at least 50 ms")
    dimmer_mod = fw.load("dimmer")
    night_ms = int(round(float(sc["night_s"]) * 1000))
    rng = random.Random(seed)
    poles = [_Pole(i, p["id"], float(p["x_m"])) for i, p in enumerate(sc["poles"])]
    n = len(poles)
    cfg = config or bourg_config(sc)
    heap: list[tuple[int, int, int, int, Any]] = []
    order = 0

    def push(t: int, kind: int, idx: int, data: Any = None) -> None:
        nonlocal order
        order += 1
        heapq.heappush(heap, (t, order, kind, idx, data))

    # --- controllers -------------------------------------------------------------------
    profile_events: list[tuple[int, float, float]] = []  # (t_ms, base, presence)
    if controller == "bourg":
        prof_mod = fw.load("nightprofile")
        wave_mod = fw.load("lightwave")
        prof = prof_mod.validate(cfg["profile"])
        sunrise = (EVENING_MIN + night_ms // 60000) % 1440
        res = prof_mod.resolve(prof, EVENING_MIN, sunrise)
        cuts = {0}
        for start, end, *_ in res:
            for mnt in (start, end):
                t = (mnt - EVENING_MIN) * 60000
                if 0 < t < night_ms:
                    cuts.add(t)
        for t in sorted(cuts):
            got = prof_mod.lookup(res, EVENING_MIN + t / 60000)
            base, pres = (got[0], got[1]) if got else (0, 0)
            profile_events.append((t, base, pres))
        for p in poles:
            p.entry = p.idx in (0, n - 1)
            p.dimmer = dimmer_mod.Dimmer(BOOT_MS, **cfg["dimmer"])
            mac = bytes([0x24, 0x0A, 0xC4, 0x00, p.idx >> 8, p.idx & 0xFF])
            p.wave = wave_mod.Wave(mac, p.x, SITE_KEY, **cfg["wave"])
    elif controller == "peer":
        for p in poles:
            p.dimmer = dimmer_mod.Dimmer(BOOT_MS, ramp_up_ms=250, ramp_down_ms=3000,
                                         hold_ms=300000, presence_level=100, base_level=20)
    else:
        for p in poles:
            p.dimmer = dimmer_mod.Dimmer(BOOT_MS, ramp_up_ms=250, ramp_down_ms=3000,
                                         base_level=100, presence_level=0)
        profile_events = [(0, 100, 0)]
        t4, t2 = 4 * 3600 * 1000, night_ms - 2 * 3600 * 1000
        if t2 > t4:
            profile_events += [(t4, 50, 0), (t2, 100, 0)]

    def apply_profile(p: _Pole, t: int, base: float, pres: float) -> None:
        if p.entry:
            base = max(base, cfg.get("entry_level", 0))
        p.dimmer.set_levels(t, base=base, presence=max(pres, base))

    if profile_events and profile_events[0][0] == 0:
        for p in poles:
            apply_profile(p, BOOT_MS, profile_events[0][1], profile_events[0][2])
    for p in poles:
        p.dimmer.ready(BOOT_MS)
    for t, base, pres in profile_events:
        if t > 0:
            push(t, 0, -1, (base, pres))
    if controller != "schedule":
        for idx, ivs in enumerate(sensor_intervals(sc)):
            for on, off in ivs:
                if on < night_ms:
                    push(on, 1, idx, True)
                    push(off, 1, idx, False)

    rows: list[Row] = []

    def record(p: _Pole, t: int) -> None:
        lvl = p.dimmer.level(t)
        if lvl == p.last:
            return
        if p.last_t == t:  # changed twice within the same millisecond: keep the final level
            rows[p.last_row] = (t, p.idx, lvl)
        else:
            p.last_row, p.last_t = len(rows), t
            rows.append((t, p.idx, lvl))
        p.last = lvl

    def send(p: _Pole, frames: Iterable[Any], t: int) -> None:
        for f in frames:
            for j in (p.idx - 1, p.idx + 1):
                if 0 <= j < n and rng.random() >= loss:
                    push(t + hop_ms + int(rng.random() * jitter_ms), 2, j, f)

    def schedule_wake(p: _Pole, t: int) -> None:
        cands = [p.dimmer.next_ms(t)]
        if p.wave is not None:
            cands.append(p.wave.next_ms())
        nxt = min((c for c in cands if c is not None and c >= t), default=None)
        if nxt is not None and (p.wake is None or nxt < p.wake):
            p.wake = nxt
            push(nxt, 3, p.idx)

    for p in poles:
        record(p, 0)
        schedule_wake(p, 0)
    while heap:
        t, _, kind, idx, data = heapq.heappop(heap)
        if t > night_ms:
            break
        targets = poles if idx < 0 else [poles[idx]]
        for p in targets:
            if kind == 0:
                apply_profile(p, t, data[0], data[1])
            elif kind == 1:
                p.dimmer.presence(data, t)
                if p.wave is not None:
                    send(p, p.wave.local(data, t), t)
                elif controller == "peer" and data:
                    send(p, [("peer", p.idx)], t)
            elif kind == 2:
                if p.wave is not None:
                    actions, relay = p.wave.receive(data, t)
                    wave_mod.apply(actions, p.dimmer, t)
                    send(p, relay, t)
                else:
                    p.dimmer.neighbour(data, 20, t + 300000, t)
            else:
                if p.wake == t:
                    p.wake = None
                p.dimmer.update(t)
                if p.wave is not None:
                    send(p, p.wave.tick(t), t)
            record(p, t)
            schedule_wake(p, t)
    rows.sort(key=lambda r: (r[0], r[1]))
    return rows


def fmt_level(v: float) -> str:
    s = f"{v:.1f}"
    return s[:-2] if s.endswith(".0") else s


def write_csv(sc: dict[str, Any], rows: list[Row], path: str | Path) -> None:
    ids = [p["id"] for p in sc["poles"]]
    with open(path, "w") as f:
        f.write(HEADER + "\n")
        for t, i, lvl in rows:
            f.write(f"{t / 1000:.3f},{ids[i]},{fmt_level(lvl)}\n")
