"""Energy, burn hours, switch-on count and the hourly traffic counter. Pure.

Why a power model and not a meter: poles have no energy meter; a luminaire's draw at a dim
level is close to standby + rated x level (LED drivers are near linear above 10 %), which is
what the town's energy contract is billed on. Counters are kept as plain numbers so the app
can persist them (bourg.store) and resume after a reboot.

Why integers: the ESP32 port's floats are single precision (24-bit mantissa). A float total
of hundreds of kWh cannot take the few mWh of one step: a 40 W lamp's total drifts 0.24 %
in two years at one step a minute, 6 % at one every 5 s (tests/test_lighting_pole.py).
Energy is counted in whole mWh plus the µJ not yet making one, burn time in whole seconds plus
the ms not yet making one: exact for ever.
"""

_UJ_PER_MWH = 3600000


class Meter:
    def __init__(self, rated_w=40.0, standby_w=0.5, state=None):
        self.rated_w = rated_w
        self.standby_w = standby_w
        self.mwh = 0
        self._uj = 0  # energy not yet a whole mWh
        self.burn_s = 0
        self._burn_ms = 0  # burn time not yet a whole second
        self.switch_ons = 0
        self._t = None
        self._level = 0
        if state:
            self._restore(state)

    def _restore(self, state):
        if "mwh" in state:
            self.mwh = int(state["mwh"])
            self._uj = int(state.get("uj", 0))
            self.burn_s = int(state.get("burn_s", 0))
            self._burn_ms = int(state.get("burn_ms", 0))
        else:  # saved by a firmware that counted in float Wh and seconds
            self.mwh = int(float(state.get("wh", 0)) * 1000 + 0.5)
            self.burn_s = int(float(state.get("burn_s", 0)))
        self.switch_ons = int(state.get("switch_ons", 0))

    @property
    def wh(self):
        return self.mwh / 1000

    def power_w(self, level_pct):
        return self.standby_w + self.rated_w * level_pct / 100

    def power_mw(self, level_pct):
        return int(self.power_w(level_pct) * 1000 + 0.5)

    def advance(self, level_pct, now_ms):
        """The output is level_pct from now_ms on (call at each change and periodically).
        now_ms is an int that does not wrap."""
        if self._t is not None and now_ms > self._t:
            dt_ms = now_ms - self._t
            uj = self._uj + self.power_mw(self._level) * dt_ms  # mW x ms = µJ
            self.mwh += uj // _UJ_PER_MWH
            self._uj = uj % _UJ_PER_MWH
            if self._level > 0:
                ms = self._burn_ms + dt_ms
                self.burn_s += ms // 1000
                self._burn_ms = ms % 1000
        if level_pct > 0 and self._level <= 0 and self._t is not None:
            self.switch_ons += 1
        self._t = now_ms
        self._level = level_pct

    def state(self):
        return {"wh": self.mwh / 1000, "burn_h": round(self.burn_s / 3600, 3),
                "switch_ons": self.switch_ons}

    def to_dict(self):
        return {"mwh": self.mwh, "uj": self._uj, "burn_s": self.burn_s,
                "burn_ms": self._burn_ms, "switch_ons": self.switch_ons}


class Traffic:
    """Detections per clock hour; hour_key is e.g. unix_s // 3600 (None while the clock is
    unknown: counted in the current hour)."""

    def __init__(self, keep=24):
        self.keep = keep
        self.hour = None
        self.count = 0
        self.done = []  # [(hour_key, count)] finished hours, oldest first

    def roll(self, hour_key):
        """Returns (hour, count) when an hour has just finished, else None."""
        if hour_key is None or hour_key == self.hour:
            return None
        out = None
        if self.hour is not None:
            out = (self.hour, self.count)
            self.done.append(out)
            if len(self.done) > self.keep:
                self.done.pop(0)
        self.hour = hour_key
        self.count = 0
        return out

    def add(self, hour_key):
        r = self.roll(hour_key)
        self.count += 1
        return r
