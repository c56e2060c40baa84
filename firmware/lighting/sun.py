"""Sunrise, sunset and civil dusk/dawn from latitude, longitude and date (NOAA algorithm).

Pure; runs on MicroPython and CPython. Times are minutes after 00:00 UTC of the given date
(they may lie outside 0..1440 far from Greenwich, e.g. a Californian sunset). The maths keeps
numbers small (days from J2000 split into an integer and a fraction, angles reduced mod 360)
so the ESP32's single-precision floats stay within a few seconds.

events(lat, lon, y, m, d, zenith) -> (rise_min, set_min, state)
  state 0: normal day, rise/set are floats;
  state 1: the sun stays above the zenith line all day (polar day), rise/set None;
  state -1: it stays below all day (polar night), rise/set None.
"""
from math import acos, asin, cos, degrees, radians, sin, tan

from tzrule import days_from_civil

SUNRISE = 90.833  # zenith of the upper limb with standard refraction
CIVIL = 96.0
NORMAL, POLAR_DAY, POLAR_NIGHT = 0, 1, -1


J2000_DAYS = 10957  # 2000-01-01 (J2000.0 is noon of this day)


def _solar(days, frac):
    """Declination (deg) and equation of time (min) at day `days` (int, from J2000 midnight)
    plus `frac` of a day (UT)."""
    frac -= 0.5  # J2000.0 is noon: keep `days` an exact integer, move the half day to frac
    t = (days + frac) / 36525.0
    l0 = (280.46646 + (days * 0.98564736 % 360.0) + frac * 0.98564736
          + t * t * 0.0003032) % 360.0
    m = (357.52911 + (days * 0.98560028 % 360.0) + frac * 0.98560028
         - 0.0001537 * t * t) % 360.0
    e = 0.016708634 - t * (0.000042037 + 0.0000001267 * t)
    mr = radians(m)
    c = (sin(mr) * (1.914602 - t * (0.004817 + 0.000014 * t))
         + sin(2 * mr) * (0.019993 - 0.000101 * t) + sin(3 * mr) * 0.000289)
    omega = radians(125.04 - 1934.136 * t)
    lam = radians(l0 + c - 0.00569 - 0.00478 * sin(omega))
    eps0 = 23.0 + (26.0 + (21.448 - t * (46.815 + t * (0.00059 - t * 0.001813))) / 60.0) / 60.0
    eps = radians(eps0 + 0.00256 * cos(omega))
    decl = asin(sin(eps) * sin(lam))
    y = tan(eps / 2) ** 2
    l0r = radians(l0)
    eot = 4.0 * degrees(y * sin(2 * l0r) - 2 * e * sin(mr) + 4 * e * y * sin(mr) * cos(2 * l0r)
                        - 0.5 * y * y * sin(4 * l0r) - 1.25 * e * e * sin(2 * mr))
    return decl, eot


def _event(lat, lon, days, zenith, rising):
    """One rise or set (minutes UTC of the day), or (None, state) when it does not happen."""
    latr = radians(lat)
    t_min = 720.0 - 4.0 * lon  # first guess: solar noon at mean time
    for _ in range(3):  # iterate: evaluate the sun's position at the event time itself
        decl, eot = _solar(days, t_min / 1440.0)
        cos_h = (cos(radians(zenith)) / (cos(latr) * cos(decl)) - tan(latr) * tan(decl)
                 if abs(cos(latr)) > 1e-9 else 2.0)
        if cos_h > 1.0:
            return None, POLAR_NIGHT
        if cos_h < -1.0:
            return None, POLAR_DAY
        h = degrees(acos(cos_h))
        if rising:
            h = -h
        t_min = 720.0 - 4.0 * (lon - h) - eot
    return t_min, NORMAL


def events(lat, lon, y, m, d, zenith=SUNRISE):
    """(rise_min, set_min, state) for the date, minutes after 00:00 UTC."""
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        raise ValueError("latitude/longitude out of range")
    days = days_from_civil(y, m, d) - J2000_DAYS
    rise, st1 = _event(lat, lon, days, zenith, True)
    sett, st2 = _event(lat, lon, days, zenith, False)
    if rise is None or sett is None:
        return None, None, st1 if rise is None else st2
    return rise, sett, NORMAL


def sunrise_sunset(lat, lon, y, m, d):
    return events(lat, lon, y, m, d, SUNRISE)


def civil_dawn_dusk(lat, lon, y, m, d):
    return events(lat, lon, y, m, d, CIVIL)


def solar_noon(lon, y, m, d):
    days = days_from_civil(y, m, d) - J2000_DAYS
    t = 720.0 - 4.0 * lon
    for _ in range(2):
        t = 720.0 - 4.0 * lon - _solar(days, t / 1440.0)[1]
    return t


def elevation(lat, lon, y, m, d, minute_utc):
    """Sun elevation (deg, geometric) at a minute of the date; handy for day-burning checks."""
    days = days_from_civil(y, m, d) - J2000_DAYS
    decl, eot = _solar(days, minute_utc / 1440.0)
    ha = radians((minute_utc + eot + 4.0 * lon) / 4.0 - 180.0)
    latr = radians(lat)
    s = sin(latr) * sin(decl) + cos(latr) * cos(decl) * cos(ha)
    return degrees(asin(max(-1.0, min(1.0, s))))


def fmt(minutes):
    """'HH:MM' of minutes (mod 1440), or '--:--' for None."""
    if minutes is None:
        return "--:--"
    mm = int(minutes + 0.5) % 1440
    return "%02d:%02d" % (mm // 60, mm % 60)

