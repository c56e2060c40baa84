"""Which profile period applies now: local time, tonight's sunset and sunrise, then lookup.
Pure; runs on MicroPython and CPython.

Why cached per night: the sun computation costs a few ms of float work on the ESP32, and the
answer only changes once a day. For the same reason `sun` is imported for that computation
and dropped after it: its ~3 KB are back on the heap for the other 23 hours 59 minutes.
"""
import nightprofile
import tzrule
from bourg import compat


class Schedule:
    def __init__(self, profile, lat, lon):
        self.profile = profile  # validated (profilecheck.validate)
        self.lat = lat
        self.lon = lon
        self._day = None
        self._off = None  # the UTC offset the night was resolved with
        self._res = None
        self.sunset = None  # local minutes of the evening's day
        self.sunrise = None  # local minutes of the next morning

    def _resolve(self, day, off):
        import sun

        try:
            self._resolve_with(sun, day, off)
        finally:
            compat.forget("sun")

    def _resolve_with(self, sun, day, off):
        y, m, d = tzrule.civil_from_days(day)
        rise0, set0, st = sun.sunrise_sunset(self.lat, self.lon, y, m, d)
        y2, m2, d2 = tzrule.civil_from_days(day + 1)
        rise1, set1, st1 = sun.sunrise_sunset(self.lat, self.lon, y2, m2, d2)
        dawn1, dusk0 = None, None
        if st == sun.POLAR_NIGHT:
            sset = 720 - off  # the whole day is night: lit from noon to noon
        elif st == sun.POLAR_DAY:
            sset = None
        else:
            sset = set0
            dusk0 = sun.civil_dawn_dusk(self.lat, self.lon, y, m, d)[1]
        if st1 == sun.POLAR_NIGHT:
            srise = 720 - off
        elif st1 == sun.POLAR_DAY:
            srise = None
        else:
            srise = rise1
            dawn1 = sun.civil_dawn_dusk(self.lat, self.lon, y2, m2, d2)[0]
        if sset is None or srise is None:
            self._res = []
            self.sunset = self.sunrise = None
            return

        def loc(v):
            return None if v is None else int(v + off + 0.5) % 1440

        self.sunset, self.sunrise = loc(sset), loc(srise)
        self._res = nightprofile.resolve(self.profile, self.sunset, self.sunrise, loc(dusk0),
                                         loc(dawn1))

    def lookup(self, unix_s):
        """(base, presence, name) of the period in force at unix_s, or None (daytime)."""
        off = tzrule.offset_min(self.profile["utc_offset_min"], self.profile["dst"], unix_s)
        t = unix_s + off * 60
        today = t // 86400
        minute = (t % 86400) // 60
        day = today if minute >= 720 else today - 1  # the evening this night belongs to
        if day != self._day or off != self._off:
            # the offset changes inside a night twice a year (summer time): tonight's
            # sunrise in local minutes moves by an hour with it
            self._day, self._off = day, off
            self._resolve(day, off)
        return nightprofile.lookup(self._res, nightprofile.night_minute(minute))
