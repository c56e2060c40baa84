"""Neighbour light wave over ESP-NOW. Pure; runs on MicroPython and CPython.
(Named lightwave: CPython's stdlib has a `wave` module.)

A pole that detects presence broadcasts PRESENCE frames (at the start, then every refresh_ms
while it lasts) and a CLEAR frame when it ends; other poles relay them while hops are left.
Each frame carries the origin's position, so a receiver knows how far away and on which side
the detection was. The origin infers the direction of travel from the order of detections:
if the last recent detection on one side only came from a pole within max_gap_m, the mover
comes from that side, at speed = distance / time between the two detections.

What a receiver at hop h does with a PRESENCE frame:
  direction unknown: h <= nb_hops -> neighbour level, held nb_hold_ms after the last frame
  ahead (on the side the mover goes to): h <= ahead_hops(speed) -> ahead level, held for the
      mover's expected arrival (distance / speed, x1.5, + tail_ms), at least nb_hold_ms
  behind: fall back: its own presence hold after the mover left is cut to tail_ms; with
      guard_behind (default) h <= nb_hops still gets the neighbour level while the origin
      sees someone (refreshed frames), since a direction inferred from the order of
      detections can be wrong when movers cross.
A CLEAR frame holds unknown-direction requests clear_hold_ms more (the mover may be crossing
the gap between two sensor ranges); behind requests end at once, or with guard_behind after
clear_hold_ms too; ahead requests keep their arrival-based hold (the mover is on its way).

Usage (the app or the simulator applies the actions to its Dimmer):
  frames = w.local(on, now_ms)              # local presence edge -> frames to broadcast
  frames = w.tick(now_ms)                   # refresh while presence lasts (at next_ms())
  actions, frames = w.receive(data, now_ms) # actions: ("nb", key, level, until_ms)
                                            #          ("fall_back", until_ms)
"""
import frames as fr


def apply(actions, dimmer, now_ms):
    """Hand a receive()'s actions to a Dimmer (the app and the simulator do the same)."""
    for a in actions:
        if a[0] == "nb":
            dimmer.neighbour(a[1], a[2], a[3], now_ms)
        else:
            dimmer.fall_back(a[1], now_ms)


def _sign(v):
    return 1 if v > 0 else -1 if v < 0 else 0


class Wave:
    def __init__(self, mac, x_m, key, epoch=1, nb_hops=1, nb_level=50, ahead_level=50,
                 spacing_m=30.0, lead_s=4.0, max_hops=3, max_gap_m=45.0, refresh_ms=2000,
                 nb_hold_ms=5000, tail_ms=1000, max_hold_ms=120000, v_min=0.5, v_max=40.0,
                 window_ms=150000, guard_behind=True, clear_hold_ms=5000):
        self.mac = bytes(mac)
        self.x_dm = int(x_m * 10)
        self.key = key
        self.epoch = epoch
        self.seq = 0
        self.nb_hops = nb_hops
        self.nb_level = nb_level
        self.ahead_level = ahead_level
        self.spacing_dm = int(spacing_m * 10)
        self.lead_s = lead_s
        self.max_hops = max_hops
        self.max_gap_dm = int(max_gap_m * 10)
        self.refresh_ms = refresh_ms
        self.nb_hold_ms = nb_hold_ms
        self.tail_ms = tail_ms
        self.max_hold_ms = max_hold_ms
        self.v_min = v_min
        self.v_max = v_max
        self.window_ms = window_ms
        self.guard_behind = guard_behind
        self.clear_hold_ms = clear_hold_ms
        self.replay = fr.ReplayWindow()
        self.heard = {}  # origin mac -> [x_dm, start_ms, dir, last_ms]
        self._relayed = []  # recent (origin, event, type, age) relayed, bounded
        self.on = False
        self.event = 0
        self.start_ms = None  # start of the current (or last) local presence
        self.dir = 0
        self.speed_cms = 0
        self._next = None
        self.stats = {"rx": 0, "bad": 0, "replay": 0, "relayed": 0, "tx": 0}

    # ---- origin side --------------------------------------------------------------------
    def _infer(self, now_ms):
        best = [None, None]  # type: list  # per side (mover from the left -> index 0, from the right -> 1)
        for o, (x, start, d, _last) in self.heard.items():
            dx = self.x_dm - x
            dt = now_ms - start
            if dx == 0 or abs(dx) > self.max_gap_dm or dt <= 0 or dt > self.window_ms:
                continue
            if self.start_ms is not None and start <= self.start_ms:
                continue  # seen before our previous detection: that mover was already here
            v = abs(dx) / 10 / (dt / 1000)
            if v < self.v_min or v > self.v_max:
                continue
            side = 0 if dx > 0 else 1
            if d not in (0, _sign(dx)):
                continue  # that mover was going the other way
            if best[side] is None or start > best[side][0]:
                best[side] = (start, v)
        if best[0] is not None and best[1] is None:
            return 1, best[0][1]
        if best[1] is not None and best[0] is None:
            return -1, best[1][1]
        return 0, 0.0

    def ahead_hops(self, speed_mps):
        if speed_mps <= 0:
            return self.nb_hops
        h = int(speed_mps * self.lead_s * 10 / self.spacing_dm + 0.999)
        return max(1, min(self.max_hops, h))

    def _frame(self, ftype, now_ms, origin=None, event=None, x_dm=None, d=None, speed=None,
               age=None, hops=0, ttl=None):
        self.seq += 1
        if origin is None:
            origin, event, x_dm, d, speed = self.mac, self.event, self.x_dm, self.dir, \
                self.speed_cms
            age = now_ms - (self.start_ms or 0)
            # the broadcast itself is the first hop; ttl counts the relays left
            ttl = (max(self.nb_hops, self.ahead_hops(speed / 100)) if d else self.nb_hops) - 1
        self.stats["tx"] += 1
        return fr.encode(self.key, ftype, self.mac, self.epoch, self.seq, origin, event, x_dm,
                         d, speed, age, hops, ttl)  # pyright: ignore[reportArgumentType] ints by then

    def local(self, on, now_ms):
        """Local presence edge; returns frames to broadcast."""
        if on and not self.on:
            self.on = True
            self.event = self.seq + 1
            self.dir, v = self._infer(now_ms)
            self.start_ms = now_ms
            self.speed_cms = int(v * 100)
            self._next = now_ms + self.refresh_ms
            return [self._frame(fr.PRESENCE, now_ms)]
        if not on and self.on:
            self.on = False
            self._next = None
            return [self._frame(fr.CLEAR, now_ms)]
        return []

    def tick(self, now_ms):
        if self.on and self._next is not None and now_ms >= self._next:
            self._next = now_ms + self.refresh_ms
            return [self._frame(fr.PRESENCE, now_ms)]
        return []

    def next_ms(self):
        return self._next

    # ---- receiver side ------------------------------------------------------------------
    def receive(self, data, now_ms):
        """Returns (actions, frames to relay). Bad, spoofed and replayed frames: ([], [])."""
        self.stats["rx"] += 1
        try:
            f = fr.decode(self.key, data)
        except fr.FrameError:
            self.stats["bad"] += 1
            return [], []
        if f["src"] == self.mac or not self.replay.check(f["src"], f["epoch"], f["seq"]):
            self.stats["replay"] += 1
            return [], []
        origin = f["origin"]
        if origin == self.mac:
            return [], []
        d = f["dir"]
        x = f["x_dm"]
        speed = f["speed_cms"] / 100
        rel = self.x_dm - x
        # a radio often reaches further than the next pole: count the poles in between, not
        # only the relays, so a direct frame from three poles away is not taken as a neighbour
        h = f["hops"] + 1
        by_dist = (abs(rel) + self.spacing_dm // 2) // self.spacing_dm
        if by_dist > h:
            h = by_dist
        key = origin
        actions = []
        if f["type"] == fr.PRESENCE:
            start = now_ms - f["age_ms"]
            old = self.heard.get(origin)
            if old is None or old[1] < start - 1000 or old[0] != x:
                self.heard[origin] = [x, start, d, now_ms]
            else:
                old[2], old[3] = d, now_ms
            if d == 0:
                if h <= self.nb_hops:
                    actions.append(("nb", key, self.nb_level, now_ms + self.nb_hold_ms))
            elif _sign(rel) == d:
                if h <= self.ahead_hops(speed):
                    eta = abs(rel) * 100 / speed - f["age_ms"] if speed > 0 else 0
                    hold = int(eta * 1.5) + self.tail_ms
                    hold = max(self.nb_hold_ms, min(self.max_hold_ms, hold))
                    actions.append(("nb", key, self.ahead_level, now_ms + hold))
            else:
                # behind: its own hold is cut short; while the origin still sees someone the
                # adjacent pole keeps the neighbour level anyway (guard_behind), because a
                # direction inferred from detections can be wrong when movers cross
                if self.guard_behind and h <= self.nb_hops:
                    actions.append(("nb", key, self.nb_level, now_ms + self.nb_hold_ms))
                actions.append(("fall_back", now_ms + self.tail_ms))
            # something approaching us from the side we thought was ahead: direction unknown
            if self.on and self.dir != 0 and _sign(rel) == -self.dir and d != self.dir \
                    and h == 1:
                self.dir = 0
                self._next = now_ms  # re-announce at once with the new direction
        else:  # CLEAR
            if d == 0 or (_sign(rel) != d and self.guard_behind):
                # the mover left the origin's sensor toward us, or so it may have (direction
                # unknown or possibly wrong): it may be crossing the unseen gap between two
                # sensor ranges
                if h <= self.nb_hops:
                    actions.append(("nb", key, self.nb_level, now_ms + self.clear_hold_ms))
            elif _sign(rel) != d:
                actions.append(("nb", key, 0, now_ms))
        self._prune(now_ms)
        relay = []
        if f["ttl"] > 0:
            tag = (origin, f["event"], f["type"], f["age_ms"])
            if tag not in self._relayed:
                self._relayed.append(tag)
                if len(self._relayed) > 32:
                    self._relayed.pop(0)
                self.stats["relayed"] += 1
                relay.append(self._frame(f["type"], now_ms, origin, f["event"], x, d,
                                         f["speed_cms"], f["age_ms"], h, f["ttl"] - 1))
        return actions, relay

    def _prune(self, now_ms):
        if len(self.heard) > 16:
            dead = [o for o, v in self.heard.items() if now_ms - v[3] > self.window_ms]
            for o in dead:
                del self.heard[o]
            while len(self.heard) > 16:
                oldest = None
                for o, v in self.heard.items():
                    if oldest is None or v[3] < self.heard[oldest][3]:
                        oldest = o
                del self.heard[oldest]
