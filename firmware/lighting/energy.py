"""Energy, burn hours, switch-on count and the hourly traffic counter. Pure.

Why a power model and not a meter: poles have no energy meter; a luminaire's draw at a dim
level is close to standby + rated x level (LED drivers are near linear above 10 %), which is
what the town's energy contract is billed on. Counters are kept as plain numbers so the app
can persist them (bourg.store) and resume after a reboot.
"""


class Meter:
    def __init__(self, rated_w=40.0, standby_w=0.5, state=None):
        self.rated_w = rated_w
        self.standby_w = standby_w
        self.wh = 0.0
        self.burn_s = 0.0
        self.switch_ons = 0
        self._t = None
        self._level = 0.0
        if state:
            self.wh = float(state.get("wh", 0.0))
            self.burn_s = float(state.get("burn_s", 0.0))
            self.switch_ons = int(state.get("switch_ons", 0))

    def power_w(self, level_pct):
        return self.standby_w + self.rated_w * level_pct / 100

    def advance(self, level_pct, now_ms):
        """The output is level_pct from now_ms on (call at each change and periodically)."""
        if self._t is not None and now_ms > self._t:
            dt = (now_ms - self._t) / 1000
            self.wh += self.power_w(self._level) * dt / 3600
            if self._level > 0:
                self.burn_s += dt
        if level_pct > 0 and self._level <= 0 and self._t is not None:
            self.switch_ons += 1
        self._t = now_ms
        self._level = level_pct

    def state(self):
        return {"wh": round(self.wh, 3), "burn_h": round(self.burn_s / 3600, 3),
                "switch_ons": self.switch_ons}

    def to_dict(self):
        return {"wh": self.wh, "burn_s": self.burn_s, "switch_ons": self.switch_ons}


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
