"""Score a levels CSV against its scenario (../shared/lighting/SCENARIO.md).

- energy: each pole draws standby_w + full_w * level / 100, the level held from one of its
  rows to the next and up to night_s; compared with an always-on street (100 % all night) and
  the fixed schedule (100 % for 4 h, 50 % until 2 h before dawn, then 100 %):
  saving = 1 - E / E_reference.
- lit_ok: the share of mover-time (each mover from t_s until it arrives, within the night)
  during which `required` held: the pole nearest to the mover, when within 15 m of it, at
  least under_pct, and the next pole ahead in the direction of travel, when within 30 m, at
  least ahead_pct. Computed exactly (piecewise, no sampling).
"""

from __future__ import annotations

import bisect
import csv
from pathlib import Path
from typing import Any

from host_tools.lighting.simulate import HEADER, mover_span

UNDER_M = 15.0
AHEAD_M = 30.0
EPS = 1e-9


class LevelsError(ValueError):
    pass


def read_levels(sc: dict[str, Any], path: str | Path) -> dict[str, tuple[list[float],
                                                                         list[float]]]:
    """Per pole id: (times, levels), checked against SCENARIO.md's format."""
    ids = [p["id"] for p in sc["poles"]]
    series: dict[str, tuple[list[float], list[float]]] = {i: ([], []) for i in ids}
    with open(path, newline="") as f:
        rd = csv.reader(f)
        head = next(rd, None)
        if head is None or ",".join(head) != HEADER:
            raise LevelsError(f"header must be {HEADER!r}")
        for n, row in enumerate(rd, start=2):
            if len(row) != 3:
                raise LevelsError(f"line {n}: expected 3 fields")
            try:
                t, pid, lvl = float(row[0]), row[1], float(row[2])
            except ValueError:
                raise LevelsError(f"line {n}: bad number") from None
            if pid not in series:
                raise LevelsError(f"line {n}: unknown pole {pid!r}")
            if not 0.0 <= lvl <= 100.0:
                raise LevelsError(f"line {n}: level outside 0..100")
            ts, ls = series[pid]
            if ts and t < ts[-1]:
                raise LevelsError(f"line {n}: {pid} rows out of time order")
            if not ts and t != 0.0:
                raise LevelsError(f"line {n}: first row of {pid} must be at t = 0")
            ts.append(t)
            ls.append(lvl)
    for pid, (ts, _) in series.items():
        if not ts:
            raise LevelsError(f"no row for pole {pid}")
    return series


def schedule_level(t: float, night_s: float) -> float:
    return 100.0 if t < 4 * 3600 or t >= night_s - 2 * 3600 else 50.0


def _schedule_pct_s(night_s: float) -> float:
    a, b = 4 * 3600.0, night_s - 2 * 3600.0
    if b <= a:
        return 100.0 * night_s
    return 100.0 * a + 50.0 * (b - a) + 100.0 * (night_s - b)


def _pct_s(ts: list[float], ls: list[float], night_s: float) -> float:
    total = 0.0
    for i, t in enumerate(ts):
        if t >= night_s:
            break
        end = min(night_s, ts[i + 1]) if i + 1 < len(ts) else night_s
        total += ls[i] * (end - t)
    return total


def _level_at(s: tuple[list[float], list[float]], t: float) -> float:
    i = bisect.bisect_right(s[0], t) - 1
    return s[1][max(i, 0)]


def lit(sc: dict[str, Any], series: dict[str, tuple[list[float], list[float]]]
        ) -> tuple[float, float]:
    """(mover-time s, time s when `required` did not hold)."""
    night = float(sc["night_s"])
    ids = [p["id"] for p in sc["poles"]]
    xs = [float(p["x_m"]) for p in sc["poles"]]
    total = fail = 0.0
    for m in sc["movers"]:
        t0, t1, d, v = mover_span(m)
        t1 = min(t1, night)
        if t1 <= t0:
            continue
        total += t1 - t0
        a = float(m["from_x_m"])
        req = sc["required"][m["kind"]]
        marks = {t0, t1}
        geo = [x + o for x in xs for o in (0.0, UNDER_M, -UNDER_M, -d * AHEAD_M)]
        geo += [(x1 + x2) / 2 for x1, x2 in zip(xs, xs[1:], strict=False)]
        for g in geo:
            t = t0 + (g - a) / (d * v)
            if t0 < t < t1:
                marks.add(t)
        cuts = sorted(marks)
        for s, e in zip(cuts, cuts[1:], strict=False):
            if e - s <= 0:
                continue
            x = a + d * v * ((s + e) / 2 - t0)
            need: list[tuple[str, float]] = []
            near = min(range(len(xs)), key=lambda i: abs(xs[i] - x))
            if abs(xs[near] - x) <= UNDER_M and req["under_pct"] > 0:
                need.append((ids[near], req["under_pct"]))
            ahead = [i for i in range(len(xs)) if (xs[i] - x) * d > 0]
            if ahead and req["ahead_pct"] > 0:
                j = min(ahead, key=lambda i: abs(xs[i] - x))
                if abs(xs[j] - x) <= AHEAD_M:
                    need.append((ids[j], req["ahead_pct"]))
            if not need:
                continue
            pts = {s, e}
            for pid, _ in need:
                ts = series[pid][0]
                lo, hi = bisect.bisect_right(ts, s), bisect.bisect_left(ts, e)
                pts.update(ts[lo:hi])
            pts_s = sorted(pts)
            for u, w in zip(pts_s, pts_s[1:], strict=False):
                mid = (u + w) / 2
                if any(_level_at(series[pid], mid) < r - EPS for pid, r in need):
                    fail += w - u
    return total, fail


def score(sc: dict[str, Any], levels_csv: str | Path) -> dict[str, Any]:
    series = read_levels(sc, levels_csv)
    night = float(sc["night_s"])
    full, standby = float(sc["luminaire"]["full_w"]), float(sc["luminaire"]["standby_w"])
    n = len(series)
    e = sum(standby * night + full * _pct_s(ts, ls, night) / 100.0
            for ts, ls in series.values())
    e_on = n * (standby + full) * night
    e_sched = n * (standby * night + full * _schedule_pct_s(night) / 100.0)
    total, fail = lit(sc, series)
    return {
        "energy_wh": round(e / 3600.0, 3),
        "always_on_wh": round(e_on / 3600.0, 3),
        "schedule_wh": round(e_sched / 3600.0, 3),
        "saving_vs_always_on": round(1.0 - e / e_on, 6) if e_on else 0.0,
        "saving_vs_schedule": round(1.0 - e / e_sched, 6) if e_sched else 0.0,
        "lit_ok": round(1.0 - fail / total, 6) if total else 1.0,
        "mover_time_s": round(total, 3),
        "unlit_s": round(fail, 3),
    }
