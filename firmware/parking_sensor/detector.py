"""Parking-bay vehicle detector on a 3-axis magnetometer: a pure module, board and host alike.

Runs unchanged on MicroPython 1.29 (ESP32, Unix port) and CPython 3.11: no dataclasses, no
typing, no numpy, only ``math`` and ``struct``. The board calls ``Detector.update`` once per
1 Hz sample and keeps ``to_bytes()`` in RTC memory across deep sleep; the host replays traces
through the very same class (``host_tools.parking``), so what the benchmarks measure is what
the board does.

Why it is built this way (figures from ``../shared/parking/samples``, see docs/parking.md):

* A parked car adds a *settled* disturbance vector ``d = B - baseline`` of 2..230 µT; a car in a
  neighbouring bay adds a settled 1..2.3 µT (up to ~4 µT with two neighbours); lane traffic and
  read glitches are 1..2-sample spikes; temperature and offset walk move the empty-bay field by
  1..3 µT over a day. Noise is ~0.2 µT per axis.
* Magnitude alone cannot split the weakest own-bay cars (2.2..3.6 µT) from neighbours
  (up to 2.3 µT). The *direction* helps: ``perp``, the part of ``d`` perpendicular to the
  baseline field (how much the field *turned*). In the samples every own-bay car has
  ``perp`` >= 1.97 µT and every neighbour <= 1.87 µT, so the detector fires on
  ``perp >= perp_on``, or on ``|d|`` above a magnitude threshold that sits at ``mag_on``
  (4.2 µT) beside busy neighbours and drops to ``mag_min`` where no settled neighbour-sized
  offset has been seen for a day (parallel bays), so weak cars of any orientation count there.
* Spikes are removed by a per-axis median of the last 5 samples (a 2-sample spike cannot pass)
  and every change of state needs ``n_on``/``n_off`` consecutive *stable* filtered samples, so
  manoeuvres and passing vehicles (unstable) never switch the state, and latency stays ~5 s.
* The baseline adapts only while the bay is confidently empty and the field is stable, with
  a time constant of minutes: it follows drift and absorbs a neighbour's settled offset, but a
  car that arrives is detected within seconds, long before it could be absorbed.
* While a vehicle is parked the empty-bay field cannot be observed, so drift accumulates (hours
  of occupancy). Two things keep departures reliable: a temperature coefficient per axis,
  learnt while empty (LMS), and a *step-back* rule: a settled step that takes the field back
  towards the baseline by most of the vehicle's signature is a departure even when drift left a
  residual; the baseline is then re-anchored on the new empty field. Falling back under the
  release thresholds counts only together with a step: drift alone wore weak cars away.
* A neighbour bay is at a fixed place, so its vehicles' offsets point nearly the same way at
  the sensor. Steps between calm levels with no change of state teach those directions; a
  disturbance along one is not taken for a car by its turn alone, and one far from all of
  them may be as small as ``mag_min``.
* What one 3-axis sensor cannot tell apart (a weak car along the Earth field beside busy
  neighbours, whose offsets look the same) the totem can: it hears every bay. A node whose
  field settled under the thresholds asks it whether a neighbour bay changed just now
  (``wants_hint`` / ``neighbour_hint``); if none did, the disturbance is this bay's vehicle.
"""

import math
import struct

VERSION = 3

# Documented defaults; any subset may be overridden with Detector(params={...}).
DEFAULTS = {
    # perpendicular (direction) part of the disturbance that means "vehicle above", µT
    "perp_on": 1.92,
    # magnitude of the disturbance that means "vehicle" whatever its direction, µT
    "mag_on": 4.2,
    # the magnitude threshold drops towards mag_min where no neighbour activity is seen:
    # effective = clamp(nb_gain * nb + nb_margin, mag_min, mag_on), nb = largest settled
    # sub-threshold disturbance seen while empty, forgotten with time constant nb_tau (s);
    # nb starts at nb_prior (assume neighbours until shown otherwise)
    "mag_min": 2.1,
    "nb_gain": 1.3,
    "nb_margin": 0.5,
    "nb_prior": 1.5,
    "nb_tau": 86400.0,
    # only offsets that stayed stable this many samples count (not manoeuvre transients)
    "nb_calm": 20,
    # ... within this L1 distance (µT) of where the field was when the count started
    "calm_ut": 1.0,
    # hysteresis: the bay is empty again below both of these (and the step-back rule), µT
    "perp_off": 1.0,
    "mag_off": 1.5,
    # consecutive stable filtered samples needed to switch on / off (1 Hz samples)
    "n_on": 3,
    "n_off": 3,
    # filtered field change between consecutive samples still counted as "stable", µT
    "stable_ut": 1.2,
    # baseline time constant while confidently empty, samples (seconds at 1 Hz)
    "tau_base": 300.0,
    # LMS rate of the per-axis temperature coefficient, and its bound (µT/°C)
    "temp_rate": 0.0005,
    "temp_k_max": 0.5,
    # occupied-reference time constant (follows slow changes while parked), samples
    "tau_occ": 60.0,
    # step-back departure: a settled step that undoes the arrival step to within this fraction
    # of the arrival step's size
    "dep_tol": 0.5,
    # release under perp_off / mag_off needs a step of this fraction of the signature
    "dep_step": 0.5,
    # ... or, after a step larger than mag_on, the field is within this fraction of the
    # parked disturbance from the baseline
    "frac_back": 0.35,
    # seconds after an arrival during which the vehicle's signature is re-measured
    "settle_s": 30,
    # a raw sample further than this from the filtered field counts as a glitch (health), µT
    "glitch_ut": 30.0,
    # neighbour directions: a settled step between two calm levels with no change of state in
    # between (a neighbour bay, a stop in the lane) of nd_min..nd_max µT teaches its direction
    "nd_min": 0.8,
    "nd_max": 4.2,
    # steps within this |cos| of a learnt direction refine it, others start a new one
    "nd_merge": 0.85,
    # a direction counts once seen nd_seen times (weights decay with nb_tau)
    "nd_seen": 2.0,
    # a disturbance this aligned (|cos|) with a counted direction and below mag_on is taken
    # for that neighbour: the turn (perp) rule does not apply to it
    "nd_cos": 0.9,
    # a disturbance less aligned than this with every counted direction is no neighbour's:
    # the magnitude threshold drops to mag_min
    "nd_far": 0.7,
    # totem-assisted arrival: the node asks the totem once per disturbance (wants_hint /
    # neighbour_hint). One that a neighbour bay's change explains (the change came at most
    # hint_window s before the field settled here) is not this bay's vehicle; one of at
    # least hint_ut that no neighbour explains, calm for hint_calm samples, is. hint_calm
    # leaves a neighbour's own sensor time to report a car that parked at the same moment
    "hint_ut": 1.95,
    "hint_calm": 12,
    "hint_window": 15,
    # this bay's field moving hard (a vehicle manoeuvring over the sensor): a filtered step of
    # at least stable_ut that leaves the last calm level by move_ut; flagged once per
    # move_hold samples so the node can tell the totem (its neighbours must not count a
    # small offset that appears now: it is this bay's vehicle, seen from beside)
    "move_ut": 4.2,
    "move_hold": 60,
}

# the totem's answer about the current disturbance (kept in the state's flag bits 3-4)
NOT_ASKED, NEIGHBOUR, CLEAR, NO_ANSWER = 0, 1, 2, 3

_WIN = 5  # median window (samples): removes up to 2 consecutive outliers
# state layout (little-endian): version, flags, counters, then doubles
_HDR = "<BBHHHHHH"
_ND = 4  # neighbour directions kept
_NF = 3 * _WIN + 3 * 7 + 7 + 4 * _ND  # raw window, base, k, occ ref, arrival, prev, calm ref,
# level, misc, neighbour directions and their weights
_FMT = _HDR + "d" * _NF
STATE_SIZE = struct.calcsize(_FMT)


def merge_params(defaults, overrides, what):
    """defaults updated with overrides; an unknown name is a ValueError (a config typo must
    not silently fall back to a default). Shared with gate.py."""
    p = dict(defaults)
    if overrides:
        for k in overrides:
            if k not in defaults:
                raise ValueError("unknown %s parameter: %s" % (what, k))
            p[k] = overrides[k]
    return p


def _frac(gap, tau):
    """Share of the way an exponential average with time constant tau (samples) moves in
    gap samples: 1/tau for one sample, 1 - (1 - 1/tau)^gap for more."""
    if gap <= 1:
        return 1.0 / tau
    return 1.0 - (1.0 - 1.0 / tau) ** gap


def _median5(a, b, c, d, e):
    s = sorted((a, b, c, d, e))
    return s[2]


class Detector:
    """Vehicle detector for one bay. ``update(t_s, bx, by, bz, temp_c) -> occupied``.

    Attributes after each update: ``occupied`` (bool), ``confidence`` (0..1, how far the
    evidence is from the switching thresholds), ``health`` (0..1: 1 = plausible field, quiet
    sensor, baseline recently confirmed; low values mean "recalibrate or check the sensor").
    """

    def __init__(self, params=None):
        self.p = merge_params(DEFAULTS, params, "detector")
        self.reset()

    # -- state ------------------------------------------------------------------------------

    def reset(self):
        """Forget everything: the next sample becomes the empty-bay baseline."""
        self.n = 0  # samples seen (saturating)
        self.win = [0.0] * (3 * _WIN)
        self.wpos = 0
        self.base = [0.0, 0.0, 0.0]
        self.k = [0.0, 0.0, 0.0]
        self.occ_ref = [0.0, 0.0, 0.0]
        self.arr = [0.0, 0.0, 0.0]  # disturbance at the arrival (the vehicle's signature)
        self.prev = [0.0, 0.0, 0.0]
        self.t_ref = 0.0  # temperature the baseline refers to
        self.temp = 0.0
        self.glitch = 0.0  # EMA of the glitch rate
        self.nb = self.p["nb_prior"]  # neighbour activity level, µT
        self.quiet = 0.0  # seconds since the baseline was last confirmed (empty + stable)
        self.score = 0.0
        self.mag = 0.0  # |disturbance| of the last sample, µT
        self.confidence = 0.0
        self.health = 1.0
        self.occupied = False
        self.count = 0  # consecutive samples supporting a change of state
        self.age = 0  # seconds since the last change of state (saturating)
        self.calm = 0  # samples the field stayed within calm_ut of calm_ref (saturating)
        self.calm_ref = [0.0, 0.0, 0.0]
        self.lvl = [0.0, 0.0, 0.0]  # the last calm level (nb_calm samples), for its steps
        self.lvl_ok = False  # lvl was taken in the current state (no change since)
        self.lvl_new = False  # the current calm level has not been taken as lvl yet
        self.hint = NOT_ASKED  # the totem's answer about the current calm disturbance
        self.recheck = False  # a "neighbour" answer was dropped as the field moved on
        self.moving = False  # this sample starts a movement of this bay's field
        self.still = 65535  # samples since the last one that did (saturating)
        self.nd = [0.0] * (3 * _ND)  # learnt neighbour directions (unit vectors)
        self.ndw = [0.0] * _ND  # ... how often each was seen (decaying)

    def recalibrate(self, sample):
        """The bay is known empty: take ``sample`` (t_s, bx, by, bz, temp_c) as the baseline.

        Keeps the learnt temperature coefficients (a property of the sensor, not the bay).
        """
        t_s, bx, by, bz, temp = sample
        k = self.k
        self.reset()
        self.k = list(k)
        self._seed(bx, by, bz, temp)
        self.confidence = 1.0

    def _seed(self, bx, by, bz, temp):
        for i in range(_WIN):
            self.win[3 * i] = bx
            self.win[3 * i + 1] = by
            self.win[3 * i + 2] = bz
        self.base = [bx, by, bz]
        self.prev = [bx, by, bz]
        self.calm_ref = [bx, by, bz]
        self.lvl = [bx, by, bz]
        self.occ_ref = [bx, by, bz]
        self.lvl_new = True
        self.t_ref = temp
        self.temp = temp
        self.n = 1

    def to_bytes(self):
        """State as bytes (RTC memory across deep sleep); starts with a version byte."""
        flags = ((1 if self.occupied else 0) | (2 if self.lvl_ok else 0)
                 | (4 if self.lvl_new else 0) | (self.hint << 3) | (32 if self.recheck else 0))
        vals = (self.win + self.base + self.k + self.occ_ref + self.arr + self.prev + self.calm_ref
                + self.lvl + [self.t_ref, self.temp, self.glitch, self.quiet, self.score,
                              self.confidence, self.nb] + self.nd + self.ndw)
        return struct.pack(_FMT, VERSION, flags, self.wpos, self.count, min(self.n, 65535),
                           min(self.age, 65535), self.calm, self.still, *vals)

    @classmethod
    def from_bytes(cls, data, params=None):
        """Restore a detector from ``to_bytes()``. Raises ValueError on a foreign or bad blob
        (the board then starts afresh with ``Detector()`` and a recalibration)."""
        if len(data) != STATE_SIZE or data[0] != VERSION:
            raise ValueError("detector state: bad size or version")
        u = struct.unpack(_FMT, data)
        d = cls(params)
        d.occupied = bool(u[1] & 1)
        d.lvl_ok = bool(u[1] & 2)
        d.lvl_new = bool(u[1] & 4)
        d.hint = (u[1] >> 3) & 3
        d.recheck = bool(u[1] & 32)
        d.wpos = u[2] % _WIN
        d.count = u[3]
        d.n = u[4]
        d.age = u[5]
        d.calm = u[6]
        d.still = u[7]
        v = list(u[8:])
        for x in v:
            if x != x:  # NaN: corrupt
                raise ValueError("detector state: NaN")
        w = 3 * _WIN
        d.win = v[0:w]
        d.base = v[w:w + 3]
        d.k = v[w + 3:w + 6]
        d.occ_ref = v[w + 6:w + 9]
        d.arr = v[w + 9:w + 12]
        d.prev = v[w + 12:w + 15]
        d.calm_ref = v[w + 15:w + 18]
        d.lvl = v[w + 18:w + 21]
        (d.t_ref, d.temp, d.glitch, d.quiet, d.score, d.confidence,
         d.nb) = v[w + 21:w + 28]
        d.nd = v[w + 28:w + 28 + 3 * _ND]
        d.ndw = v[w + 28 + 3 * _ND:w + 28 + 4 * _ND]
        d._health()
        return d

    # -- per sample -------------------------------------------------------------------------

    def expected(self):
        """Empty-bay field expected at the current temperature (baseline + thermal term)."""
        dt = self.temp - self.t_ref
        b = self.base
        k = self.k
        return [b[0] + k[0] * dt, b[1] + k[1] * dt, b[2] + k[2] * dt]

    def update(self, t_s, bx, by, bz, temp_c, gap=1):
        """Feed one sample (µT, °C); returns ``occupied``. ``t_s`` is informational: the
        detector counts in nominal 1 Hz samples (the board's timer), so it never depends on a
        wall clock.

        ``gap`` > 1 says this sample ends ``gap`` seconds in which the board slept behind its
        magnetometer's wake-on-change threshold (see gate.py): the field stayed near where it
        was, so time-based terms (age, baseline tracking, calm, the neighbour estimate's
        decay) advance by ``gap`` while the median window and the switching counts advance
        by one sample."""
        p = self.p
        if self.n == 0:
            self._seed(bx, by, bz, temp_c)
            self._health()
            return self.occupied
        if gap < 1:
            gap = 1
        if self.n < 65535:
            self.n += 1
        self.quiet += gap
        self.age = min(65535, self.age + gap)
        self.temp = temp_c
        w = self.win
        j = 3 * self.wpos
        w[j] = bx
        w[j + 1] = by
        w[j + 2] = bz
        self.wpos = (self.wpos + 1) % _WIN
        f = [_median5(w[0], w[3], w[6], w[9], w[12]),
             _median5(w[1], w[4], w[7], w[10], w[13]),
             _median5(w[2], w[5], w[8], w[11], w[14])]

        # glitch rate for the health figure (the median already rejects the glitch)
        gx = abs(bx - f[0]) + abs(by - f[1]) + abs(bz - f[2])
        self.glitch += ((1.0 if gx > p["glitch_ut"] else 0.0) - self.glitch) / 3600.0

        pv = self.prev
        step = math.sqrt((f[0] - pv[0]) ** 2 + (f[1] - pv[1]) ** 2 + (f[2] - pv[2]) ** 2)
        self.prev = f
        stable = step < p["stable_ut"]
        lv = self.lvl
        self.moving = not stable and self.still >= p["move_hold"] and math.sqrt(
            (f[0] - lv[0]) ** 2 + (f[1] - lv[1]) ** 2 + (f[2] - lv[2]) ** 2) >= p["move_ut"]
        self.still = 0 if self.moving else min(65535, self.still + gap)
        c = self.calm_ref
        if abs(f[0] - c[0]) + abs(f[1] - c[1]) + abs(f[2] - c[2]) > p["calm_ut"]:
            self.calm = 0
            self.calm_ref = f
            self.lvl_new = True
            if self.hint == NEIGHBOUR:
                self.recheck = True
            self.hint = NOT_ASKED  # a new disturbance: the answer was about the last one
        else:
            self.calm = min(65535, self.calm + gap)

        e = self.expected()
        d = [f[0] - e[0], f[1] - e[1], f[2] - e[2]]
        mag = math.sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2])
        en = math.sqrt(e[0] * e[0] + e[1] * e[1] + e[2] * e[2]) or 1.0
        par = (d[0] * e[0] + d[1] * e[1] + d[2] * e[2]) / en
        perp = math.sqrt(max(0.0, mag * mag - par * par))
        m_on = p["nb_gain"] * self.nb + p["nb_margin"]
        al = self._aligned(d, mag)
        if al >= 0.0 and al < p["nd_far"]:
            m_on = p["mag_min"]  # in no direction a neighbour ever came from
        if m_on < p["mag_min"]:
            m_on = p["mag_min"]
        elif m_on > p["mag_on"]:
            m_on = p["mag_on"]
        if al >= p["nd_cos"] and mag < p["mag_on"]:
            s_on = mag / m_on  # the turn is that neighbour's
        else:
            s_on = max(perp / p["perp_on"], mag / m_on)
        s_off = max(perp / p["perp_off"], mag / p["mag_off"])
        self.mag = mag
        if not self.occupied:
            if self.hint == CLEAR and mag >= p["hint_ut"]:
                s_on = max(s_on, mag / p["hint_ut"])  # nobody next door moved: it is ours
            elif self.hint == NEIGHBOUR and mag < p["mag_on"]:
                s_on = min(s_on, mag / p["mag_on"])  # a neighbour's vehicle, not ours
        self.score = s_on

        if not self.occupied:
            if s_on >= 1.0 and stable:
                self.count += 1
                if self.count >= p["n_on"] and self.recheck and mag < p["mag_on"]:
                    # the totem said a neighbour explains the disturbance, then the field
                    # moved on (a neighbour's car still settling): ask again before counting
                    self.count = p["n_on"] - 1
                elif self.count >= p["n_on"]:
                    self.occupied = True
                    self.count = 0
                    self.age = 0
                    self.lvl_ok = False
                    self.hint = NOT_ASKED
                    self.recheck = False
                    self.occ_ref = list(f)
                    self.arr = d
            else:
                self.count = 0
                if stable and s_on < 1.0:
                    self._adapt(f, e, gap)
                    if mag > self.nb and self.calm >= p["nb_calm"]:
                        self.nb = mag
            self.nb -= self.nb * _frac(gap, p["nb_tau"])
        else:
            o = self.occ_ref
            ar = self.arr
            # step-back: the settled step from the parked field undoes the arrival step
            sig = math.sqrt(ar[0] * ar[0] + ar[1] * ar[1] + ar[2] * ar[2])
            res = math.sqrt((f[0] - o[0] + ar[0]) ** 2 + (f[1] - o[1] + ar[1]) ** 2
                            + (f[2] - o[2] + ar[2]) ** 2)
            jump = math.sqrt((f[0] - o[0]) ** 2 + (f[1] - o[1]) ** 2 + (f[2] - o[2]) ** 2)
            held = math.sqrt((o[0] - e[0]) ** 2 + (o[1] - e[1]) ** 2 + (o[2] - e[2]) ** 2)
            # a strong vehicle left and the field fell most of the way back to the baseline
            # (covers a signature measured wrongly, e.g. with a neighbour moving meanwhile)
            gone = jump > p["mag_on"] and mag < p["frac_back"] * held
            # back under the release thresholds counts only with a step away from the parked
            # field (temperature drift must not wear a weak vehicle's signature away), or when
            # the re-measured signature itself is that small (a transient, not a vehicle)
            back = s_off < 1.0 and (jump >= p["dep_step"] * sig or sig < p["mag_off"])
            leave = back or res < p["dep_tol"] * sig or gone
            if stable and not leave:
                if jump > p["mag_on"] and mag > p["mag_on"] and self.age >= p["settle_s"]:
                    # a new settled configuration while occupied (another vehicle, or the
                    # first real one after a doubtful arrival): measure the signature again
                    self.age = 0
                if self.age < p["settle_s"]:
                    # the vehicle may still be settling (or a neighbour moving at the same
                    # time): its signature is what the field settles to, not the first
                    # stable seconds
                    self.occ_ref = list(f)
                    self.arr = d
                else:
                    a = _frac(gap, p["tau_occ"])
                    for i in range(3):
                        o[i] += (f[i] - o[i]) * a
            if leave and stable:
                self.count += 1
                if self.count >= p["n_off"]:
                    self.occupied = False
                    self.count = 0
                    self.age = 0
                    self.lvl_ok = False
                    # re-anchor: the bay is empty now, whatever drift did meanwhile
                    self.base = list(f)
                    self.t_ref = temp_c
            else:
                self.count = 0
        if self.calm >= p["nb_calm"] and self.lvl_new:
            self._level(s_on)
        a = 1.0 - _frac(gap, p["nb_tau"])
        for k in range(_ND):
            self.ndw[k] *= a
        self._confidence(s_on, s_off)
        self._health()
        return self.occupied

    @property
    def wants_hint(self):
        """Ask the totem now? Once per disturbance while the bay is empty: when one more
        sample would count a disturbance under mag_on as a vehicle (a neighbour that parked
        at the same moment must not be), or when the field has settled (hint_calm samples)
        on a disturbance of at least hint_ut that the thresholds alone do not take for a
        vehicle."""
        p = self.p
        if self.occupied or self.hint != NOT_ASKED or self.n < _WIN:
            return False
        if self.score >= 1.0:
            return self.count == p["n_on"] - 1 and self.mag < p["mag_on"]
        return self.calm >= p["hint_calm"] and self.mag >= p["hint_ut"]

    @property
    def hint_pending(self):
        """A disturbance the totem will be asked about once it has settled: the node keeps
        sampling until then (gate.py)."""
        return (not self.occupied and self.hint == NOT_ASKED and self.score < 1.0
                and self.mag >= self.p["hint_ut"])

    def neighbour_hint(self, age_s, calm_s=None):
        """The totem's answer: seconds since a neighbour bay of this one last changed state
        (-1: none since the totem has known them; None: no answer, or the totem cannot
        vouch for every neighbour). A neighbour change from at most hint_window s before
        the field settled here explains the disturbance; otherwise it is this bay's own.
        calm_s: how long ago the field settled, on the totem's clock (seconds); by default
        the calm count, which is that only when each sample takes one second."""
        self.recheck = False
        if calm_s is None:
            calm_s = self.calm
        if age_s is None:
            self.hint = NO_ANSWER
        elif 0 <= age_s <= calm_s + self.p["hint_window"]:
            self.hint = NEIGHBOUR
        else:
            self.hint = CLEAR

    def _level(self, s_on):
        """The field has stayed at a new calm level for nb_calm samples. A step from the last
        level with no change of state in between, and no arrival pending, was made by
        something outside the bay: learn its direction."""
        p = self.p
        c = self.calm_ref
        self.lvl_new = False
        if self.lvl_ok and (self.occupied or s_on < 1.0):
            st = [c[0] - self.lvl[0], c[1] - self.lvl[1], c[2] - self.lvl[2]]
            m = math.sqrt(st[0] * st[0] + st[1] * st[1] + st[2] * st[2])
            if p["nd_min"] <= m <= p["nd_max"]:
                self._learn([st[0] / m, st[1] / m, st[2] / m])
        self.lvl = list(c)
        self.lvl_ok = True

    def _learn(self, s):
        """Merge unit step s into the closest learnt direction (sign-free), or replace the
        least seen one."""
        nd = self.nd
        best, bc = 0, -1.0
        for k in range(_ND):
            j = 3 * k
            c = abs(nd[j] * s[0] + nd[j + 1] * s[1] + nd[j + 2] * s[2])
            if self.ndw[k] > 0.0 and c > bc:
                best, bc = k, c
        if bc >= self.p["nd_merge"]:
            j = 3 * best
            w = self.ndw[best]
            sg = 1.0 if nd[j] * s[0] + nd[j + 1] * s[1] + nd[j + 2] * s[2] >= 0.0 else -1.0
            v = [nd[j + i] * w + sg * s[i] for i in range(3)]
            n = math.sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]) or 1.0
            for i in range(3):
                nd[j + i] = v[i] / n
            self.ndw[best] = w + 1.0 if w < 15.0 else 16.0  # a bounded memory
        else:
            k = 0
            for i in range(1, _ND):
                if self.ndw[i] < self.ndw[k]:
                    k = i
            for i in range(3):
                nd[3 * k + i] = s[i]
            self.ndw[k] = 1.0

    def _aligned(self, d, mag):
        """Largest |cos| between d and a direction seen nd_seen times; -1 when none is."""
        if mag <= 0.0:
            return -1.0
        nd = self.nd
        best = -1.0
        for k in range(_ND):
            if self.ndw[k] >= self.p["nd_seen"]:
                j = 3 * k
                c = abs(nd[j] * d[0] + nd[j + 1] * d[1] + nd[j + 2] * d[2]) / mag
                if c > best:
                    best = c
        return best

    def _adapt(self, f, e, gap=1):
        """Confidently empty and stable: follow drift and absorb neighbours, slowly; learn the
        temperature coefficient from what is left after the baseline (LMS)."""
        p = self.p
        a = _frac(gap, p["tau_base"])
        dt = self.temp - self.t_ref
        r = p["temp_rate"]
        km = p["temp_k_max"]
        for i in range(3):
            err = f[i] - e[i]
            self.base[i] += err * a
            if dt != 0.0:
                k = self.k[i] + r * err * dt / (1.0 + dt * dt)
                self.k[i] = km if k > km else (-km if k < -km else k)
        self.quiet = 0.0

    def _confidence(self, s_on, s_off):
        if self.occupied:
            c = (s_on - 0.5) / 1.0
        else:
            c = (1.0 - s_on) / 0.5
        self.confidence = 0.0 if c < 0.0 else (1.0 if c > 1.0 else c)

    def _health(self):
        """1.0 = plausible Earth field (20..80 µT), few glitches, baseline confirmed recently.
        Each problem multiplies the figure down so the totem can flag a sensor to check."""
        e = self.expected()
        en = math.sqrt(e[0] * e[0] + e[1] * e[1] + e[2] * e[2])
        h = 1.0
        if en < 20.0 or en > 80.0:
            h *= 0.3
        h *= 1.0 - min(0.9, self.glitch * 50.0)
        if self.quiet > 7 * 86400:  # a week without seeing an empty bay: baseline stale
            h *= 0.5
        self.health = h


def run(samples, params=None):
    """Convenience: feed an iterable of (t_s, bx, by, bz, temp_c); list of 0/1 states."""
    d = Detector(params)
    out = []
    for s in samples:
        out.append(1 if d.update(s[0], s[1], s[2], s[3], s[4]) else 0)
    return out
