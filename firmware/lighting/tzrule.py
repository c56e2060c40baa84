"""Local time from UTC for the night profile: a fixed offset plus an optional DST rule.

Why not a tz database: a pole needs one zone for ten years; the EU rule (last Sunday of March
to last Sunday of October, switching at 01:00 UTC) covers the towns we serve, and "none"
covers the rest. Pure; runs on MicroPython and CPython.
"""


def days_from_civil(y, m, d):
    """Days since 1970-01-01 (proleptic Gregorian)."""
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468

RULES = ("none", "eu")


def civil_from_days(z):
    z += 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    return y + (m <= 2), m, d


def _last_sunday(y, m):
    last = days_from_civil(y, m + 1, 1) - 1 if m < 12 else days_from_civil(y + 1, 1, 1) - 1
    wd = (last + 3) % 7  # 0 = Monday (1970-01-01 was a Thursday)
    return last - (wd - 6) % 7


def dst_active(rule, unix_s):
    if rule != "eu":
        return False
    y = civil_from_days(unix_s // 86400)[0]
    start = _last_sunday(y, 3) * 86400 + 3600
    end = _last_sunday(y, 10) * 86400 + 3600
    return start <= unix_s < end


def offset_min(utc_offset_min, rule, unix_s):
    return utc_offset_min + (60 if dst_active(rule, unix_s) else 0)


def local(unix_s, utc_offset_min, rule):
    """(y, m, d, minute of day) in local time."""
    t = unix_s + offset_min(utc_offset_min, rule, unix_s) * 60
    y, m, d = civil_from_days(t // 86400)
    return y, m, d, (t % 86400) // 60
