"""Presence inputs (PIR or microwave): debounce and stuck-sensor detection. Pure.

Why asymmetric: a rise is acted on after confirm_ms (0 by default: PIR and microwave modules
drive a clean logic output, and every ms counts toward the 50 ms budget; set it to filter
spikes on long cable runs), while a fall must last release_ms, because the modules chatter at
the end of a detection. A sensor that stays active for stuck_ms
is taken as stuck: it is ignored (the other sensor, if any, still counts) and reported.
"""


class Input:
    __slots__ = ("raw", "raw_ms", "on", "since", "stuck")

    def __init__(self):
        self.raw = 0
        self.raw_ms = 0
        self.on = False
        self.since = 0
        self.stuck = False


class Presence:
    def __init__(self, n=1, confirm_ms=10, release_ms=500, stuck_ms=900000):
        if n < 1 or confirm_ms < 0 or release_ms < 0 or stuck_ms < 0:
            raise ValueError("bad presence settings")
        self.inputs = [Input() for _ in range(n)]
        self.confirm_ms = confirm_ms
        self.release_ms = release_ms
        self.stuck_ms = stuck_ms
        self.detections = 0

    def edge(self, i, level, now_ms):
        """Raw level of input i seen at now_ms (from an interrupt or a poll)."""
        p = self.inputs[i]
        level = 1 if level else 0
        if level != p.raw:
            p.raw = level
            p.raw_ms = now_ms

    def update(self, now_ms):
        """Advance debounce and stuck timers; returns a list of (i, what) changes, what in
        "on", "off", "stuck", "unstuck"."""
        out = []
        for i in range(len(self.inputs)):
            p = self.inputs[i]
            held = now_ms - p.raw_ms
            if p.raw and not p.on and held >= self.confirm_ms:
                p.on = True
                p.since = now_ms
                if not p.stuck:
                    self.detections += 1
                out.append((i, "on"))
            elif not p.raw and p.on and held >= self.release_ms:
                p.on = False
                out.append((i, "off"))
                if p.stuck:
                    p.stuck = False
                    out.append((i, "unstuck"))
            if p.on and not p.stuck and self.stuck_ms and now_ms - p.since >= self.stuck_ms:
                p.stuck = True
                out.append((i, "stuck"))
        return out

    def active(self):
        """Someone is seen by a sensor that is not stuck."""
        for p in self.inputs:
            if p.on and not p.stuck:
                return True
        return False

    def all_stuck(self):
        for p in self.inputs:
            if not p.stuck:
                return False
        return True

    def next_ms(self, now_ms):
        best = None
        for p in self.inputs:
            t = None
            if p.raw and not p.on:
                t = p.raw_ms + self.confirm_ms
            elif not p.raw and p.on:
                t = p.raw_ms + self.release_ms
            elif p.on and not p.stuck and self.stuck_ms:
                t = p.since + self.stuck_ms
            if t is not None and (best is None or t < best):
                best = t
        if best is not None and best < now_ms:
            best = now_ms
        return best
