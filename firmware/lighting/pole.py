"""One pole's decisions: presence inputs, the neighbour wave, the dimmer, energy, traffic and
alarms, driven by (input, now_ms) calls. Pure; the app (pole_app.py) only wires hardware,
radio and MQTT to it, and tests drive it directly on CPython.

Outputs are pulled: level(now_ms) for the PWM, take_tx() for frames to broadcast,
take_alarms() for alarm changes [(name, active, detail)], take_traffic() for finished hours.
"""
import dimmer as dm
import energy
import lampwatch
import lightwave
import presence

ALARMS = ("lamp_failure", "sensor_stuck", "door_open", "day_burning")


class Pole:
    def __init__(self, app, mac, key, epoch, now_ms, meter_state=None, n_sensors=1):
        d = app["dimmer"]
        self.dim = dm.Dimmer(now_ms, ramp_up_ms=d["ramp_up_ms"],
                             ramp_down_ms=d["ramp_down_ms"], hold_ms=d["hold_ms"],
                             safe_level=d["safe_level"], presence_level=100, base_level=0,
                             stuck_ms=0)
        w = app["wave"]
        self.wave = lightwave.Wave(mac, app["x_m"], key, epoch, nb_hops=w["nb_hops"],
                                   nb_level=w["nb_level"], ahead_level=w["ahead_level"],
                                   spacing_m=w["spacing_m"], lead_s=w["lead_s"],
                                   max_hops=w["max_hops"], max_gap_m=1.6 * w["spacing_m"])
        p = app["presence"]
        self.pres = presence.Presence(n_sensors, p["confirm_ms"], p["release_ms"],
                                      p["stuck_s"] * 1000)
        lamp = app["lamp"]
        self.meter = energy.Meter(lamp["rated_w"], lamp["standby_w"], meter_state)
        self.lamp = lampwatch.LampCheck(lamp["rated_w"], lamp["standby_w"], lamp["mains_v"],
                                        lamp["pf"], lamp["tol_pct"], lamp["min_a"],
                                        lamp["settle_s"] * 1000, lamp["confirm_s"] * 1000)
        self.dayburn = lampwatch.DayBurn(delay_ms=lamp["day_burn_s"] * 1000)
        self.traffic = energy.Traffic()
        self.entry_level = app["entry_level"]
        self.alarms = {}  # name -> detail, the active ones
        self._alarm_q = []
        self._traffic_q = []
        self._tx = []
        self._out = None
        self._out_since = now_ms
        self.hour_key = None  # set by the app from the wall clock
        self.meter.advance(self.level(now_ms), now_ms)

    # ---- inputs -------------------------------------------------------------------------
    def sensor(self, i, level, now_ms):
        self.pres.edge(i, level, now_ms)
        return self.step(now_ms)

    def radio(self, data, now_ms):
        actions, relay = self.wave.receive(data, now_ms)
        lightwave.apply(actions, self.dim, now_ms)
        self._tx.extend(relay)
        return self.step(now_ms)

    def levels(self, base, presence_level, now_ms, dark=True):
        """The profile's levels in force; dark (a period or the lux switch lights the street)
        raises the base to at least entry_level."""
        if dark and base < self.entry_level:
            base = self.entry_level
        self.dim.set_levels(now_ms, base=base, presence=max(base, presence_level))
        return self.step(now_ms)

    def fault(self, name, on, now_ms):
        """Fail-safe reasons held by the app: "boot", "safe_mode", "wdt", ..."""
        self.dim.set_fault(name, on, now_ms)
        return self.step(now_ms)

    def ready(self, now_ms):
        self.dim.ready(now_ms)
        return self.step(now_ms)

    def override(self, level, until_ms, now_ms):
        self.dim.override(level, until_ms, now_ms)
        return self.step(now_ms)

    def door(self, is_open, now_ms):
        self._alarm("door_open", bool(is_open), {"open": bool(is_open)})

    def lamp_sample(self, amps, is_day, now_ms):
        lvl = self.level(now_ms)
        r = self.lamp.update(lvl, amps, now_ms - self._out_since, now_ms)
        if r is not None:
            lo, hi = self.lamp.band(lvl)
            self._alarm("lamp_failure", bool(r), {"kind": r or None, "amps": _r3(amps),
                                                  "expected": [_r3(lo), _r3(hi)],
                                                  "level": lvl})
        r = self.dayburn.update(amps, is_day, now_ms)
        if r is not None:
            self._alarm("day_burning", r, {"amps": _r3(amps), "level": lvl})

    # ---- time ---------------------------------------------------------------------------
    def step(self, now_ms):
        """Advance to now_ms; returns the output level (percent)."""
        for i, what in self.pres.update(now_ms):
            if what in ("stuck", "unstuck"):
                self._alarm("sensor_stuck", what == "stuck", {"input": i})
        self.dim.set_fault("sensor", self.pres.all_stuck(), now_ms)
        on = self.pres.active()
        if on != self.wave.on:
            if on:
                r = self.traffic.add(self.hour_key)
                if r is not None:
                    self._traffic_q.append(r)
            self.dim.presence(on, now_ms)
            self._tx.extend(self.wave.local(on, now_ms))
        self._tx.extend(self.wave.tick(now_ms))
        lvl = self.dim.update(now_ms)
        if lvl != self._out:
            self._out = lvl
            self._out_since = now_ms
            self.meter.advance(lvl, now_ms)
        return lvl

    def clock(self, hour_key):
        self.hour_key = hour_key
        r = self.traffic.roll(hour_key)
        if r is not None:
            self._traffic_q.append(r)

    def next_ms(self, now_ms):
        best = None
        for t in (self.dim.next_ms(now_ms), self.wave.next_ms(), self.pres.next_ms(now_ms)):
            if t is not None and (best is None or t < best):
                best = t
        return best

    def level(self, now_ms):
        return self.dim.level(now_ms)

    # ---- outputs ------------------------------------------------------------------------
    def _alarm(self, name, active, detail):
        if active == (name in self.alarms):
            return
        if active:
            self.alarms[name] = detail
        else:
            del self.alarms[name]
        self._alarm_q.append((name, active, detail))

    def take_tx(self):
        out, self._tx = self._tx, []
        return out

    def take_alarms(self):
        out, self._alarm_q = self._alarm_q, []
        return out

    def take_traffic(self):
        out, self._traffic_q = self._traffic_q, []
        return out

    def state(self, now_ms):
        s = self.dim.state(now_ms)
        faults = s["faults"]
        mode = "safe" if faults else "override" if s["reason"] == dm.OVERRIDE else "auto"
        return {"level": s["level"], "target": s["target"], "mode": mode,
                "reason": s["reason"], "faults": faults, "presence": s["presence"],
                "alarms": sorted(self.alarms)}


def _r3(v):
    return None if v is None else int(v * 1000 + 0.5) / 1000
