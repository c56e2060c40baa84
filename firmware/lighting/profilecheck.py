"""Night profile checking: validate(obj) -> the normalized profile that nightprofile.resolve
and schedule.Schedule take, or ProfileError(path, reason). Time syntax in nightprofile.

Why a module of its own: a pole checks a profile at boot and when its settings change, never
in between, so it imports this module for the check and drops it (bourg.compat.forget).
Pure; MicroPython and CPython.
"""
from nightprofile import (ANCHOR_NAMES, ANCHORS, FIXED, MAX_PERIODS, ProfileError,
                          checked_number, resolve)


def parse_time(s, path="time"):
    """'HH:MM' | anchor[+-MIN] -> (kind, minutes)."""
    if not isinstance(s, str) or not s or len(s) > 16:
        raise ProfileError(path, "expected 'HH:MM' or sunset/sunrise/dusk/dawn[+-MIN], got %r"
                           % (s,))
    t = s.strip().lower()
    for name in ANCHORS:
        if t.startswith(name):
            rest = t[len(name):].strip()
            off = 0
            if rest:
                if rest[0] not in "+-" or not rest[1:].strip().isdigit():
                    raise ProfileError(path, "bad offset in %r (use e.g. sunset+30)" % (s,))
                off = int(rest[1:].strip())
                if off > 360:
                    raise ProfileError(path, "offset over 360 min in %r" % (s,))
                if rest[0] == "-":
                    off = -off
            return ANCHORS[name], off
    parts = t.split(":")
    if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit() and len(parts[1]) == 2:
        h, m = int(parts[0]), int(parts[1])
        if h < 24 and m < 60:
            return FIXED, h * 60 + m
    raise ProfileError(path, "expected 'HH:MM' or sunset/sunrise/dusk/dawn[+-MIN], got %r"
                       % (s,))


def validate(obj):
    if not isinstance(obj, dict):
        raise ProfileError("profile", "expected an object")
    for k in sorted(obj):  # one first error on board and host: its dicts keep no order
        if k not in ("utc_offset_min", "dst", "periods", "lux"):
            raise ProfileError(k, "unknown key")
    out = {"utc_offset_min": checked_number(obj.get("utc_offset_min", 0), "utc_offset_min",
                                            -720, 840, True)}  # type: dict
    dst = obj.get("dst", "none")
    if dst not in ("none", "eu"):
        raise ProfileError("dst", "expected \"none\" or \"eu\"")
    out["dst"] = dst
    periods = obj.get("periods")
    if not isinstance(periods, list) or not periods:
        raise ProfileError("periods", "expected a non-empty list")
    if len(periods) > MAX_PERIODS:
        raise ProfileError("periods", "at most %d periods" % MAX_PERIODS)
    norm = []
    for i, p in enumerate(periods):
        path = "periods[%d]" % i
        if not isinstance(p, dict):
            raise ProfileError(path, "expected an object")
        for k in sorted(p):  # one first error on board and host: its dicts keep no order
            if k not in ("name", "start", "end", "base", "presence"):
                raise ProfileError(path + "." + str(k), "unknown key")
        for k in ("start", "end", "base", "presence"):
            if k not in p:
                raise ProfileError(path + "." + k, "missing")
        name = p.get("name", "p%d" % i)
        if not isinstance(name, str) or not (0 < len(name) <= 16):
            raise ProfileError(path + ".name", "expected a string of 1..16 characters")
        base = checked_number(p["base"], path + ".base", 0, 100)
        pres = checked_number(p["presence"], path + ".presence", 0, 100)
        if pres < base:
            raise ProfileError(path + ".presence", "below base (%s < %s)" % (pres, base))
        norm.append({"name": name, "start": parse_time(p["start"], path + ".start"),
                     "end": parse_time(p["end"], path + ".end"), "base": base,
                     "presence": pres})
    out["periods"] = norm
    lux = obj.get("lux")
    if lux is not None:
        if not isinstance(lux, dict):
            raise ProfileError("lux", "expected an object")
        for k in sorted(lux):  # one first error on board and host: its dicts keep no order
            if k not in ("on_below", "off_above", "dwell_s"):
                raise ProfileError("lux." + str(k), "unknown key")
        # at least 1 lux: a dark sensor reads 0, and "below 0" would never be dark
        on = checked_number(lux.get("on_below", 20), "lux.on_below", 1, 10000)
        off = checked_number(lux.get("off_above", 50), "lux.off_above", 0, 10000)
        if off <= on:
            raise ProfileError("lux.off_above", "must be above on_below (hysteresis)")
        out["lux"] = {"on_below": on, "off_above": off,
                      "dwell_s": checked_number(lux.get("dwell_s", 60), "lux.dwell_s", 0, 3600)}
    # periods must not overlap on a typical night (sunset 18:00, sunrise 06:00); checked on
    # the resolved timeline
    res = resolve(out, 18 * 60, 6 * 60, 17 * 60 + 30, 6 * 60 - 30)
    for i in range(len(res)):
        if res[i][1] <= res[i][0]:
            raise ProfileError("periods[%d]" % res[i][5], "ends before it starts")
        for j in range(i):
            if res[i][0] < res[j][1] and res[j][0] < res[i][1]:
                raise ProfileError("periods[%d]" % res[i][5], "overlaps periods[%d]"
                                   % res[j][5])
    return out


def describe_time(t):
    kind, v = t
    if kind == FIXED:
        return "%02d:%02d" % (v // 60, v % 60)
    return ANCHOR_NAMES[kind] + ("" if v == 0 else "%+d" % v)
