"""Per-pole dimming state machine. Pure; runs on MicroPython and CPython.

Levels are kept internally in tenths of a percent (ints 0..1000) so that MicroPython and
CPython give identical outputs; the API takes and returns percent.

Requests, highest wins (except fail-safe and override, which replace the others):
  fail-safe (boot until ready(), safe mode, stuck or faulty presence sensor) -> safe level
  override (remote, with expiry)                                            -> its level
  presence (local sensor; held hold_ms after it goes off)                   -> presence level
  neighbour requests (keyed, each with an expiry, from the wave)            -> their levels
  base (from the night profile)                                             -> base level

The output ramps toward the winning target: up at 100 % per ramp_up_ms, down at 100 % per
ramp_down_ms, in steps of at most step_pct percent and step_ms milliseconds (the levels CSV of
the night simulation writes each step). Call update(now_ms) after any input and whenever
now_ms reaches next_ms(); level(now_ms) is the output at any time.
"""

SAFE, OVERRIDE, PRESENCE, NEIGHBOUR, BASE = "safe", "override", "presence", "neighbour", "base"


def _d(pct):
    """percent -> tenths, clamped to 0..1000"""
    v = int(pct * 10 + 0.5) if pct >= 0 else 0
    return 1000 if v > 1000 else v


class Dimmer:
    def __init__(self, now_ms=0, ramp_up_ms=250, ramp_down_ms=3000, hold_ms=15000,
                 safe_level=100, presence_level=100, base_level=0, stuck_ms=900000,
                 step_pct=5, step_ms=100):
        if ramp_up_ms < 0 or ramp_down_ms < 0 or hold_ms < 0 or step_ms <= 0 or step_pct <= 0:
            raise ValueError("bad dimmer timing")
        self.ramp_up_ms = ramp_up_ms
        self.ramp_down_ms = ramp_down_ms
        self.hold_ms = hold_ms
        self.safe_level = _d(safe_level)
        self.presence_level = _d(presence_level)
        self.base_level = _d(base_level)
        self.stuck_ms = stuck_ms
        self.step_d = _d(step_pct)
        self.step_ms = step_ms
        self.faults = {"boot": 1}  # fail-safe reasons; empty = normal operation
        self._pres = False
        self._pres_since = 0
        self._pres_until = None  # hold end after presence went off
        self._fb = None  # shortened hold (ms) asked for while the sensor still sees someone
        self.stuck = False
        self._nb = {}  # key -> [level_d, until_ms]
        self._ovr = None  # [level_d, until_ms]
        self.reason = SAFE
        self._target = self.safe_level
        # ramp: from l0 at t0 to l1 at t0 + dur, n equal steps
        self._t0 = now_ms
        self._l0 = self.safe_level
        self._l1 = self.safe_level
        self._dur = 0
        self._n = 0

    # ---- inputs -------------------------------------------------------------------------
    def ready(self, now_ms):
        """Boot finished (config valid, clock known): leave the boot fail-safe."""
        self.faults.pop("boot", None)
        return self.update(now_ms)

    def set_fault(self, name, on, now_ms):
        """Fail-safe reasons: "boot", "safe_mode", "sensor", ... any on -> safe level."""
        if on:
            self.faults[name] = 1
        else:
            self.faults.pop(name, None)
        return self.update(now_ms)

    def set_levels(self, now_ms, base=None, presence=None):
        if base is not None:
            self.base_level = _d(base)
        if presence is not None:
            self.presence_level = _d(presence)
        return self.update(now_ms)

    def presence(self, on, now_ms):
        on = bool(on)
        if on and not self._pres:
            self._pres_since = now_ms
            self._pres_until = None
            self._fb = None
        elif not on and self._pres:
            hold = self.hold_ms
            if self._fb is not None and self._fb < hold:
                hold = max(0, self._fb)
            self._pres_until = now_ms + hold
            self._fb = None
            if self.stuck:
                self.stuck = False
                self.faults.pop("stuck", None)
        self._pres = on
        return self.update(now_ms)

    def neighbour(self, key, level, until_ms, now_ms):
        """A neighbour-triggered level held until until_ms (a later request for the same key
        replaces it)."""
        self._nb[key] = [_d(level), until_ms]
        return self.update(now_ms)

    def fall_back(self, until_ms, now_ms):
        """The mover has gone ahead (a pole on the far side saw it): the presence hold ends
        at until_ms, or, while the sensor still sees it, that much after it goes off."""
        if self._pres:
            tail = until_ms - now_ms
            self._fb = tail if self._fb is None or tail < self._fb else self._fb
        elif self._pres_until is not None and self._pres_until > until_ms:
            self._pres_until = until_ms
        return self.update(now_ms)

    def override(self, level, until_ms, now_ms):
        """Remote override; level None clears it."""
        self._ovr = None if level is None else [_d(level), until_ms]
        return self.update(now_ms)

    # ---- state --------------------------------------------------------------------------
    def _compute(self, now_ms):
        if self._pres and not self.stuck and self.stuck_ms and \
                now_ms - self._pres_since >= self.stuck_ms:
            self.stuck = True
            self.faults["stuck"] = 1
        if self.faults:
            return self.safe_level, SAFE
        if self._ovr is not None:
            if now_ms < self._ovr[1]:
                return self._ovr[0], OVERRIDE
            self._ovr = None
        best, why = self.base_level, BASE
        if self._pres or (self._pres_until is not None and now_ms < self._pres_until):
            if self.presence_level > best:
                best, why = self.presence_level, PRESENCE
        elif self._pres_until is not None:
            self._pres_until = None
        dead = None
        for k, v in self._nb.items():
            if now_ms >= v[1]:
                dead = dead or []
                dead.append(k)
            elif v[0] > best:
                best, why = v[0], NEIGHBOUR
        if dead:
            for k in dead:
                del self._nb[k]
        return best, why

    def _out_d(self, now_ms):
        if self._n == 0 or now_ms >= self._t0 + self._dur:
            return self._l1
        if now_ms < self._t0:
            return self._l0
        k = ((now_ms - self._t0) * self._n) // self._dur
        # step k happens at t0 + (dur * k) // n; make k the last step at or before now
        while k < self._n and self._t0 + (self._dur * (k + 1)) // self._n <= now_ms:
            k += 1
        while k > 0 and self._t0 + (self._dur * k) // self._n > now_ms:
            k -= 1
        return self._l0 + ((self._l1 - self._l0) * k) // self._n if k < self._n else self._l1

    def update(self, now_ms):
        """Re-evaluate requests at now_ms; returns the output level (percent)."""
        target, self.reason = self._compute(now_ms)
        if target != self._target:
            self._target = target
            cur = self._out_d(now_ms)
            delta = target - cur
            rate = self.ramp_up_ms if delta > 0 else self.ramp_down_ms
            dur = (abs(delta) * rate) // 1000
            self._t0, self._l0, self._l1 = now_ms, cur, target
            if dur <= 0 or delta == 0:
                self._dur, self._n = 0, 0
                self._l0 = target
            else:
                n1 = (abs(delta) + self.step_d - 1) // self.step_d
                n2 = (dur + self.step_ms - 1) // self.step_ms
                # at least 1 ms per step: a ramp shorter than its 5 % steps takes bigger
                # steps rather than more time (a 1 ms ramp to the safe level is 1 ms)
                n = min(max(n1, n2, 1), dur)
                self._dur, self._n = dur, n
        return self._out_d(now_ms) / 10

    def level(self, now_ms):
        return self._out_d(now_ms) / 10

    @property
    def target(self):
        return self._target / 10

    def ramping(self, now_ms):
        return self._n > 0 and now_ms < self._t0 + self._dur

    def next_ms(self, now_ms):
        """Earliest time after now_ms when the output or a request can change (None: never
        without new input)."""
        best = None
        if self.ramping(now_ms):
            k = ((now_ms - self._t0) * self._n) // self._dur + 1
            while k <= self._n:
                t = self._t0 + (self._dur * k) // self._n
                if t > now_ms:
                    best = t
                    break
                k += 1
        cands = []
        if self._ovr is not None:
            cands.append(self._ovr[1])
        if not self._pres and self._pres_until is not None:
            cands.append(self._pres_until)
        if self._pres and not self.stuck and self.stuck_ms:
            cands.append(self._pres_since + self.stuck_ms)
        for v in self._nb.values():
            cands.append(v[1])
        for t in cands:
            if t > now_ms and (best is None or t < best):
                best = t
        return best

    def state(self, now_ms):
        return {"level": self.level(now_ms), "target": self._target / 10, "reason": self.reason,
                "faults": sorted(self.faults), "presence": self._pres, "stuck": self.stuck,
                "neighbours": len(self._nb)}
