"""Lamp failure and day-burning detection from the sensed lamp current. Pure.

Why a band and a delay: a driver draws a current close to its power at the commanded level
over the mains voltage; a dead LED module draws almost nothing, a failed driver or a stuck
relay draws current when it should not. Readings are only judged once the output has been
steady for settle_ms, and a fault must last confirm_ms, so ramps and mains noise do not raise
alarms.
"""


class LampCheck:
    def __init__(self, rated_w=40.0, standby_w=0.5, mains_v=230.0, pf=0.95, tol_pct=30,
                 min_a=0.005, settle_ms=5000, confirm_ms=10000):
        self.rated_w = rated_w
        self.standby_w = standby_w
        self.k = 1 / (mains_v * pf)
        self.tol = tol_pct / 100
        self.min_a = min_a
        self.settle_ms = settle_ms
        self.confirm_ms = confirm_ms
        self.fault = None  # None or "no_current" / "over_current"
        self._cand = None
        self._since = 0

    def expected_a(self, level_pct):
        return (self.standby_w + self.rated_w * level_pct / 100) * self.k

    def band(self, level_pct):
        e = self.expected_a(level_pct)
        return max(0.0, e * (1 - self.tol) - self.min_a), e * (1 + self.tol) + self.min_a

    def update(self, level_pct, amps, steady_ms, now_ms):
        """steady_ms: how long the output has held level_pct. Returns the new fault state
        when it changes (a string, or "" when it clears), else None."""
        if amps is None or steady_ms < self.settle_ms:
            self._cand = None
            return None
        lo, hi = self.band(level_pct)
        cand = "no_current" if amps < lo else "over_current" if amps > hi else ""
        if cand == (self.fault or ""):
            self._cand = None
            return None
        if cand != self._cand:
            self._cand = cand
            self._since = now_ms
            return None
        if now_ms - self._since >= self.confirm_ms:
            self.fault = cand or None
            self._cand = None
            return cand
        return None


class DayBurn:
    """The lamp draws current while it is day (sun up or bright) for longer than delay_ms."""

    def __init__(self, on_a=0.05, delay_ms=600000):
        self.on_a = on_a
        self.delay_ms = delay_ms
        self.active = False
        self._since = None

    def update(self, amps, is_day, now_ms):
        """Returns True/False when the alarm state changes, else None."""
        burning = bool(is_day) and amps is not None and amps > self.on_a
        if not burning:
            self._since = None
            if self.active:
                self.active = False
                return False
            return None
        if self._since is None:
            self._since = now_ms
        if not self.active and now_ms - self._since >= self.delay_ms:
            self.active = True
            return True
        return None
