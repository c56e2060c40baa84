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

profilecheck.validate(obj) -> normalized profile dict, or raises ProfileError(path, reason).
Checking lives in its own module because a pole runs it only when its settings change: the
pole imports it for the check and drops it, which gives its ~3 KB back to the heap.
"""

FIXED, SUNSET, SUNRISE, DUSK, DAWN = 0, 1, 2, 3, 4
ANCHORS = {"sunset": SUNSET, "sunrise": SUNRISE, "dusk": DUSK, "dawn": DAWN}
ANCHOR_NAMES = {SUNSET: "sunset", SUNRISE: "sunrise", DUSK: "dusk", DAWN: "dawn"}
MAX_PERIODS = 8


class ProfileError(ValueError):
    def __init__(self, path, reason):
        super().__init__("%s: %s" % (path, reason))
        self.path = path
        self.reason = reason

    def __str__(self):
        return "%s: %s" % (self.path, self.reason)


def checked_number(v, path, lo, hi, integer=False):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (integer and
                                                                  not isinstance(v, int)):
        raise ProfileError(path, "expected %s %s..%s, got %r" % (
            "int" if integer else "number", lo, hi, v))
    if v < lo or v > hi:
        raise ProfileError(path, "expected %s..%s, got %r" % (lo, hi, v))
    return v


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


def plan(clock_known, period, dark, fallback):
    """What the lamp does now: (on, base, presence), or None when the pole is blind (no
    clock and no light reading), which the app holds at the fail-safe level. period: the
    schedule's (base, presence, name) in force, None by day; dark: the lux switch's word,
    None without a reading; fallback: {"base", "presence"} for darkness outside a period.
    Either may say dark and a lit street is the safe side: a sensor stuck bright (a shorted
    LDR, a floodlight) does not switch off a night the almanac knows."""
    if not clock_known and dark is None:
        return None
    if period is not None:
        return True, period[0], period[1]
    if dark:
        return True, fallback["base"], fallback["presence"]
    return False, 0, 0


def daylight(clock_known, period, lux, day_lux):
    """Is it day, for the lamp-burning-by-day alarm (None: cannot tell)? A period in force is
    night by the almanac, however bright the sky still is at sunset: the lamp lit then is
    the profile at work. Outside periods, a light reading over day_lux, or the clock alone."""
    if period is not None:
        return False
    if lux is not None:
        return lux > day_lux
    return True if clock_known else None


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
    for k in sorted(obj):  # the same first error on the board and the host
        if k not in ("level", "duration_s"):
            raise ProfileError("override." + str(k), "unknown key")
    if "level" not in obj:
        raise ProfileError("override.level", "missing")
    if obj["level"] is None:
        return None, 0
    level = checked_number(obj["level"], "override.level", 0, 100)
    dur = checked_number(obj.get("duration_s", 3600), "override.duration_s", 1, 86400)
    return level, now_ms + int(dur * 1000)
