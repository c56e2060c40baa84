"""Parking for the staff: occupancy and turnover from the sessions, overstay rules. Pure:
sessions in, figures out.

A session is a vehicle's stay in a bay, opened and closed by the totem's `bay` events and
dated by the totem's clock (store.py). Occupancy in an hour is the bay-hours taken in it, so
a car parked for the whole hour counts 1 and one for 15 minutes counts 0.25; turnover is the
arrivals per bay."""

from __future__ import annotations

import re
from typing import Any

HOUR = 3600.0


def occupancy_by_hour(sessions: list[dict[str, Any]], start: float, hours: int,
                      now: float) -> list[float]:
    """Bays taken on average in each of `hours` hours from `start` (an open session runs
    to `now`)."""
    out = [0.0] * hours
    for ses in sessions:
        a = ses["arrived_at"]
        d = ses["departed_at"] if ses["departed_at"] is not None else now
        first = max(0, int((a - start) // HOUR))  # only the hours the stay covers
        last = min(hours, int((d - start) // HOUR) + 1)
        for h in range(first, last):
            lo, hi = start + h * HOUR, start + (h + 1) * HOUR
            overlap = min(d, hi) - max(a, lo)
            if overlap > 0:
                out[h] += overlap / HOUR
    return [round(v, 3) for v in out]


def occupancy_by_day(sessions: list[dict[str, Any]], start: float, days: int,
                     now: float) -> list[float]:
    """Bays taken on average over each of `days` days from `start`: today's over the hours
    it has had so far, not over hours still to come."""
    hourly = occupancy_by_hour(sessions, start, days * 24, now)
    out = []
    for d in range(days):
        had = min(24.0, max(0.0, (now - start) / HOUR - d * 24))  # hours of the day so far
        out.append(round(sum(hourly[d * 24:(d + 1) * 24]) / had, 3) if had > 0 else 0.0)
    return out


def arrivals_by_day(sessions: list[dict[str, Any]], start: float, days: int) -> list[int]:
    hourly = arrivals_by_hour(sessions, start, days * 24)
    return [sum(hourly[d * 24:(d + 1) * 24]) for d in range(days)]


def arrivals_by_hour(sessions: list[dict[str, Any]], start: float, hours: int) -> list[int]:
    out = [0] * hours
    for ses in sessions:
        h = int((ses["arrived_at"] - start) // HOUR)
        if 0 <= h < hours:
            out[h] += 1
    return out


def turnover(sessions: list[dict[str, Any]], start: float, end: float, bays: int) -> float:
    """Arrivals per bay per day over [start, end)."""
    days = max((end - start) / 86400, 1e-9)
    n = sum(1 for ses in sessions if start <= ses["arrived_at"] < end)
    return round(n / max(bays, 1) / days, 2)


def parse_max_stay(items: list[str]) -> dict[str, float]:
    """`ZONE=MINUTES` items as {zone: seconds}; ValueError naming the bad item."""
    out = {}
    for item in items:
        m = re.fullmatch(r"([A-Za-z0-9_.\-]{1,32})=(\d{1,5})", item.strip())
        if m is None or int(m.group(2)) == 0:
            raise ValueError(f"--max-stay wants ZONE=MINUTES (1..99999), got {item!r}")
        out[m.group(1)] = int(m.group(2)) * 60.0
    return out
