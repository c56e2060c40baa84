"""Night profile, lux dusk/dawn switch and remote overrides. Pure; MicroPython and CPython.
(Named nightprofile: CPython's stdlib has a `profile` module.)

Profile (JSON, e.g. the "profile" key of the app settings):

  {"utc_offset_min": 60,
   "periods": [
     {"name": "evening", "start": "sunset", "end": "23:00", "base": 20, "presence": 100},
     {"name": "night", "start": "23:00", "end": "sunrise-15", "base": 10, "presence": 90}],
   "lux": {"on_below": 20, "off_above": 50, "dwell_s": 60}}

Times: "HH:MM" local clock time, or "sunset", "sunrise", "dusk", "dawn" (civil twilight),
optionally with "+MIN"/"-MIN". A night runs from the evening of day D to the morning of D+1 on
one timeline of local minutes: 0..1439 is day D, 1440.. is the morning after. Clock times
before 12:00 belong to the morning after. Sunset/dusk are day D's, sunrise/dawn day D+1's.
Outside every period the lamp is off (level 0) unless the lux switch says it is dark.

validate(obj) -> normalized profile dict, or raises ProfileError(path, reason).
"""

FIXED, SUNSET, SUNRISE, DUSK, DAWN = 0, 1, 2, 3, 4
_ANCHORS = {"sunset": SUNSET, "sunrise": SUNRISE, "dusk": DUSK, "dawn": DAWN}
_NAMES = {SUNSET: "sunset", SUNRISE: "sunrise", DUSK: "dusk", DAWN: "dawn"}
MAX_PERIODS = 8


class ProfileError(ValueError):
    def __init__(self, path, reason):
        super().__init__("%s: %s" % (path, reason))
        self.path = path
        self.reason = reason

    def __str__(self):
        return "%s: %s" % (self.path, self.reason)


def _num(v, path, lo, hi, integer=False):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (integer and
                                                                  not isinstance(v, int)):
        raise ProfileError(path, "expected %s %s..%s, got %r" % (
            "int" if integer else "number", lo, hi, v))
    if v < lo or v > hi:
        raise ProfileError(path, "expected %s..%s, got %r" % (lo, hi, v))
    return v


def parse_time(s, path="time"):
    """'HH:MM' | anchor[+-MIN] -> (kind, minutes)."""
    if not isinstance(s, str) or not s or len(s) > 16:
        raise ProfileError(path, "expected 'HH:MM' or sunset/sunrise/dusk/dawn[+-MIN], got %r"
                           % (s,))
    t = s.strip().lower()
    for name in _ANCHORS:
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
            return _ANCHORS[name], off
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
    for k in obj:
        if k not in ("utc_offset_min", "dst", "periods", "lux"):
            raise ProfileError(k, "unknown key")
    out = {"utc_offset_min": _num(obj.get("utc_offset_min", 0), "utc_offset_min", -720, 840,
                                  True)}  # type: dict
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
        for k in p:
            if k not in ("name", "start", "end", "base", "presence"):
                raise ProfileError(path + "." + str(k), "unknown key")
        for k in ("start", "end", "base", "presence"):
            if k not in p:
                raise ProfileError(path + "." + k, "missing")
        name = p.get("name", "p%d" % i)
        if not isinstance(name, str) or not (0 < len(name) <= 16):
            raise ProfileError(path + ".name", "expected a string of 1..16 characters")
        base = _num(p["base"], path + ".base", 0, 100)
        pres = _num(p["presence"], path + ".presence", 0, 100)
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
        for k in lux:
            if k not in ("on_below", "off_above", "dwell_s"):
                raise ProfileError("lux." + str(k), "unknown key")
        on = _num(lux.get("on_below", 20), "lux.on_below", 0, 10000)
        off = _num(lux.get("off_above", 50), "lux.off_above", 0, 10000)
        if off <= on:
            raise ProfileError("lux.off_above", "must be above on_below (hysteresis)")
        out["lux"] = {"on_below": on, "off_above": off,
                      "dwell_s": _num(lux.get("dwell_s", 60), "lux.dwell_s", 0, 3600)}
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


def _at(t, sunset, sunrise, dusk, dawn):
    kind, v = t
    if kind == FIXED:
        return v + 1440 if v < 720 else v
    if kind == SUNSET:
        return sunset + v
    if kind == DUSK:
        return dusk + v
    if kind == SUNRISE:
        return sunrise + 1440 + v
    return dawn + 1440 + v


def resolve(profile, sunset, sunrise, dusk=None, dawn=None):
    """Periods on tonight's timeline: [(start, end, base, presence, name, index)] sorted.
    sunset/dusk: local minutes of day D; sunrise/dawn: local minutes of day D+1 (0..1439)."""
    if dusk is None:
        dusk = sunset + 30
    if dawn is None:
        dawn = sunrise - 30
    out = []
    for i, p in enumerate(profile["periods"]):
        out.append((_at(p["start"], sunset, sunrise, dusk, dawn),
                    _at(p["end"], sunset, sunrise, dusk, dawn), p["base"], p["presence"],
                    p["name"], i))
    out.sort()
    return out


def night_minute(local_minute_of_day):
    """A local clock minute on tonight's timeline (mornings are 1440 + m)."""
    return local_minute_of_day + 1440 if local_minute_of_day < 720 else local_minute_of_day


def lookup(resolved, minute):
    """(base, presence, name) of the period containing `minute` of the night timeline, or
    None outside all periods (daytime)."""
    for start, end, base, pres, name, _i in resolved:
        if start <= minute < end:
            return base, pres, name
    return None


class LuxSwitch:
    """Dusk/dawn from ambient light with hysteresis: dark once lux < on_below for dwell_ms,
    light again once lux > off_above for dwell_ms. A None reading (sensor fault) keeps the
    state."""

    def __init__(self, on_below=20, off_above=50, dwell_ms=60000, dark=True):
        if off_above <= on_below:
            raise ValueError("off_above must exceed on_below")
        self.on_below = on_below
        self.off_above = off_above
        self.dwell_ms = dwell_ms
        self.dark = dark
        self._since = None

    def update(self, lux, now_ms):
        if lux is None:
            self._since = None
            return self.dark
        want = (lux > self.off_above) if self.dark else (lux < self.on_below)
        if not want:
            self._since = None
        elif self._since is None:
            self._since = now_ms
        if want and now_ms - self._since >= self.dwell_ms:
            self.dark = not self.dark
            self._since = None
        return self.dark


def parse_override(obj, now_ms):
    """Remote override {"level": 0..100, "duration_s": 1..86400} -> (level, until_ms);
    {"level": null} clears (-> (None, 0)). Raises ProfileError."""
    if not isinstance(obj, dict):
        raise ProfileError("override", "expected an object")
    for k in obj:
        if k not in ("level", "duration_s"):
            raise ProfileError("override." + str(k), "unknown key")
    if "level" not in obj:
        raise ProfileError("override.level", "missing")
    if obj["level"] is None:
        return None, 0
    level = _num(obj["level"], "override.level", 0, 100)
    dur = _num(obj.get("duration_s", 3600), "override.duration_s", 1, 86400)
    return level, now_ms + int(dur * 1000)


def describe_time(t):
    kind, v = t
    if kind == FIXED:
        return "%02d:%02d" % (v // 60, v % 60)
    return _NAMES[kind] + ("" if v == 0 else "%+d" % v)
