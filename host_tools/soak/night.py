"""The soak's night: the town starts on the eve of a summer-time change, and the poles' night
profile changes level at a local clock time, so a pole that got the change wrong lights the
street at the wrong level for an hour. The expected level comes from the host's tz database
(zoneinfo), not from the firmware's own rule (lighting/tzrule.py).

Pure: times in, verdicts out; run.py reads the poles.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

TOWN_TZ = ZoneInfo("Europe/Paris")  # the poles' profile: UTC+1 with EU summer time
EVENING_BASE, LATE_BASE = 10, 5
PROFILE = {"utc_offset_min": 60, "dst": "eu", "periods": [
    {"name": "evening", "start": "sunset", "end": "01:00", "base": EVENING_BASE,
     "presence": 100},
    {"name": "late", "start": "01:00", "end": "sunrise", "base": LATE_BASE, "presence": 100}]}
# The eves of 2026's changes, 20:30 local: the clocks go forward at 02:00 on 29 March and
# back at 03:00 on 25 October. A reading every hour from here falls at half past.
EVES_UTC = (calendar.timegm((2026, 3, 28, 19, 30, 0)),  # 20:30 CET
            calendar.timegm((2026, 10, 24, 18, 30, 0)))  # 20:30 CEST
MARGIN_MIN = 10  # no verdict this close to 01:00, where the level changes


def start_utc(seed: int) -> int:
    """The run's first second: the autumn eve for odd seeds (`make soak`'s seed 1 reads a pole
    at 01:30 summer time, five hours in), the spring one for even."""
    return EVES_UTC[seed % 2]


def local_minute(unix_s: float) -> int:
    t = datetime.fromtimestamp(unix_s, UTC).astimezone(TOWN_TZ)
    return t.hour * 60 + t.minute


def expected_base(unix_s: float) -> int | None:
    """The profile's base level at unix_s by the tz database, or None where no verdict is
    safe: near 01:00, and outside 21:00 to 05:00 local (sunset and sunrise move with the
    date; the profile's levels do not)."""
    m = local_minute(unix_s)
    if 21 * 60 <= m or m < 60 - MARGIN_MIN:
        return EVENING_BASE
    if 60 + MARGIN_MIN <= m < 5 * 60:
        return LATE_BASE
    return None


def check_levels(readings: dict[str, list[tuple[float, float, float]]]) -> list[str]:
    """readings: per pole, (run time s, town unix s, lamp level %) at rest (no one seen
    lately, its clock set). A level other than the profile's base is a failure."""
    out = []
    for name, rows in readings.items():
        bad = [(t, u, lvl) for t, u, lvl in rows
               if expected_base(u) is not None and lvl != expected_base(u)]
        if bad:
            t, u, lvl = bad[0]
            local = datetime.fromtimestamp(u, UTC).astimezone(TOWN_TZ).strftime("%H:%M %Z")
            out.append(f"{name}: level {lvl} at {local} ({t:.0f} s), the profile says "
                       f"{expected_base(u)} ({len(bad)} readings off)")
    return out
