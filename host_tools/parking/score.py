"""Scoring a detector output against a labelled trace, as defined in
``../shared/parking/FORMAT.md``. Definitions:

* A *change* happens at sample ``i`` when ``occ[i] != occ[i-1]``; its time is ``t[i]`` (the
  first sample in the new state); direction ``+1`` = arrival, ``-1`` = departure.
* **accuracy_pct**: share of samples with ``pred == truth``, counting only samples further
  than ``WINDOW_S`` (30 s) from every true change (``|t - t_change| > 30``): the label's exact
  second is arbitrary while a vehicle manoeuvres, and latency is scored separately.
* A true change is **detected** when a predicted change of the same direction lies within
  ``MATCH_S`` (30 s) of it, before or after. Matching is one-to-one, greedy in time order
  (each true change takes the earliest unused predicted change of its direction in its window).
* **false_changes**: predicted changes matched to no true change; **false_changes_per_day**
  divides by the trace duration (``t[-1] - t[0] + 1`` seconds) in days.
* **latency**: ``t_pred - t_true`` of matched changes (negative = early, which manoeuvres can
  cause); p50 / p95 are nearest-rank percentiles.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

WINDOW_S = 30.0
MATCH_S = 30.0


def changes(t: Sequence[float], occ: Sequence[int]) -> list[tuple[float, int]]:
    """(time, direction) of every change of state."""
    out = []
    for i in range(1, len(occ)):
        if occ[i] != occ[i - 1]:
            out.append((t[i], 1 if occ[i] else -1))
    return out


def percentile(xs: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no data."""
    if not xs:
        return None
    s = sorted(xs)
    k = max(1, math.ceil(q / 100.0 * len(s)))
    return float(s[k - 1])


def _match(tc: list[tuple[float, int]], pc: list[tuple[float, int]], match_s: float
           ) -> tuple[dict[int, int], dict[int, int], list[float], int]:
    """One-to-one matching of predicted to true changes: detected and true counts by
    direction, the latencies of the matched ones, and the number of unmatched predictions."""
    used = [False] * len(pc)
    latencies: list[float] = []
    det = {1: 0, -1: 0}
    n_true = {1: 0, -1: 0}
    k0 = 0
    for tt, dirn in tc:
        n_true[dirn] += 1
        while k0 < len(pc) and pc[k0][0] < tt - match_s:
            k0 += 1
        k = k0
        while k < len(pc) and pc[k][0] <= tt + match_s:
            if not used[k] and pc[k][1] == dirn:
                used[k] = True
                det[dirn] += 1
                latencies.append(pc[k][0] - tt)
                break
            k += 1
    return det, n_true, latencies, used.count(False)


def latencies(t: Sequence[float], truth: Sequence[int], pred: Sequence[int],
              match_s: float = MATCH_S) -> list[float]:
    """Latency of every detected change (a set's p95 pools these over its traces)."""
    return _match(changes(t, truth), changes(t, pred), match_s)[2]


def score(t: Sequence[float], truth: Sequence[int], pred: Sequence[int],
          window_s: float = WINDOW_S, match_s: float = MATCH_S) -> dict[str, object]:
    if not (len(t) == len(truth) == len(pred)):
        raise ValueError(f"length mismatch: {len(t)} samples, {len(truth)} labels, "
                         f"{len(pred)} predictions")
    tc = changes(t, truth)
    pc = changes(t, pred)

    # accuracy outside the windows (two-pointer over sorted change times)
    good = total = 0
    j = 0
    times = [c[0] for c in tc]
    for i in range(len(t)):
        ti = t[i]
        while j < len(times) and times[j] < ti - window_s:
            j += 1
        if j < len(times) and abs(times[j] - ti) <= window_s:
            continue
        total += 1
        if int(truth[i]) == int(pred[i]):
            good += 1

    det, n_true, lat, false = _match(tc, pc, match_s)
    duration = (t[-1] - t[0] + 1.0) if t else 0.0
    days = duration / 86400.0

    def pct(a: int, b: int) -> float | None:
        return round(100.0 * a / b, 3) if b else None

    return {
        "samples": len(t),
        "scored_samples": total,
        "window_s": window_s,
        "match_s": match_s,
        "accuracy_pct": pct(good, total),
        "true_arrivals": n_true[1],
        "true_departures": n_true[-1],
        "arrivals_detected": det[1],
        "departures_detected": det[-1],
        "arrivals_detected_pct": pct(det[1], n_true[1]),
        "departures_detected_pct": pct(det[-1], n_true[-1]),
        "changes_detected_pct": pct(det[1] + det[-1], n_true[1] + n_true[-1]),
        "predicted_changes": len(pc),
        "false_changes": false,
        "duration_days": round(days, 6),
        "false_changes_per_day": round(false / days, 3) if days > 0 else None,
        "latency_p50_s": percentile(lat, 50),
        "latency_p95_s": percentile(lat, 95),
        "latency_max_s": max(lat) if lat else None,
    }
