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
    # effective = clamp(nb_gain * nb_level + nb_margin, mag_min, mag_on), nb_level = the
    # largest settled sub-threshold disturbance seen while empty, forgotten with time
    # constant nb_tau (s);
    # nb_level starts at nb_prior (assume neighbours until shown otherwise)
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
_ND = 4  # neighbour directions kept

# The state (to_bytes / from_bytes, kept in RTC memory across deep sleep), written once here.
# Little-endian: a version byte, a flags byte, then these uint16 counters (saturating at 65535)
_COUNTERS = ("window_pos", "count", "n", "age", "calm", "still")
# ... then doubles: these attributes in this order, each with its length (a list of that
# many floats; 0: a single float)
_FLOATS = (
    ("window", 3 * _WIN),  # the raw samples of the median window, x y z each
    ("base", 3),
    ("temp_k", 3),
    ("occ_ref", 3),
    ("signature", 3),
    ("prev", 3),
    ("calm_ref", 3),
    ("level", 3),
    ("t_ref", 0),
    ("temp", 0),
    ("glitch", 0),
    ("quiet", 0),
    ("score", 0),
    ("confidence", 0),
    ("nb_level", 0),
    ("nb_dirs", 3 * _ND),
    ("nb_weights", _ND),
)
# the flags byte: these booleans with their bits, and the totem's answer (``hint``) in bits 3-4
_FLAG_BITS = (("occupied", 1), ("level_ok", 2), ("level_new", 4), ("recheck", 32))
_HINT_SHIFT = 3
_FMT = "<BB" + "H" * len(_COUNTERS) + "d" * sum(max(1, size) for _, size in _FLOATS)
STATE_SIZE = struct.calcsize(_FMT)


def merge_params(defaults, overrides, what):
    """defaults updated with overrides; an unknown name is a ValueError (a config typo must
    not silently fall back to a default). Shared with gate.py."""
    p = dict(defaults)
    if overrides:
        for k in sorted(overrides):  # the same first error on the board and the host
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


def _turn(dist, mag, empty):
    """The part of the disturbance ``dist`` (length ``mag``) perpendicular to the empty-bay
    field: how much the field turned. An own-bay car turns it (it sits right above the
    sensor); a neighbour's, seen from the side, mostly lengthens or shortens it."""
    en = math.sqrt(empty[0] * empty[0] + empty[1] * empty[1] + empty[2] * empty[2]) or 1.0
    par = (dist[0] * empty[0] + dist[1] * empty[1] + dist[2] * empty[2]) / en
    return math.sqrt(max(0.0, mag * mag - par * par))


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
        self.window = [0.0] * (3 * _WIN)  # the last _WIN raw samples, x y z each
        self.window_pos = 0  # where the next sample goes in it
        self.base = [0.0, 0.0, 0.0]  # the empty-bay field at temperature t_ref
        self.temp_k = [0.0, 0.0, 0.0]  # learnt temperature coefficient per axis, µT/°C
        self.occ_ref = [0.0, 0.0, 0.0]  # the parked field (follows slow changes)
        self.signature = [0.0, 0.0, 0.0]  # the parked vehicle's disturbance
        self.prev = [0.0, 0.0, 0.0]  # the filtered field of the last sample
        self.t_ref = 0.0  # temperature the baseline refers to
        self.temp = 0.0
        self.glitch = 0.0  # EMA of the glitch rate
        self.nb_level = self.p["nb_prior"]  # neighbour activity level, µT
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
        self.level = [0.0, 0.0, 0.0]  # the last calm level (nb_calm samples), for its steps
        self.level_ok = False  # level was taken in the current state (no change since)
        self.level_new = False  # the current calm level has not been taken as level yet
        self.hint = NOT_ASKED  # the totem's answer about the current calm disturbance
        self.recheck = False  # a "neighbour" answer was dropped as the field moved on
        self.moving = False  # this sample starts a movement of this bay's field
        self.still = 65535  # samples since the last one that did (saturating)
        self.nb_dirs = [0.0] * (3 * _ND)  # learnt neighbour directions (unit vectors)
        self.nb_weights = [0.0] * _ND  # ... how often each was seen (decaying)

    def recalibrate(self, sample):
        """The bay is known empty: take ``sample`` (t_s, bx, by, bz, temp_c) as the baseline.

        Keeps the learnt temperature coefficients (a property of the sensor, not the bay).
        """
        t_s, bx, by, bz, temp = sample
        temp_k = self.temp_k
        self.reset()
        self.temp_k = list(temp_k)
        self._seed(bx, by, bz, temp)
        self.confidence = 1.0

    def _seed(self, bx, by, bz, temp):
        for i in range(_WIN):
            self.window[3 * i] = bx
            self.window[3 * i + 1] = by
            self.window[3 * i + 2] = bz
        self.base = [bx, by, bz]
        self.prev = [bx, by, bz]
        self.calm_ref = [bx, by, bz]
        self.level = [bx, by, bz]
        self.occ_ref = [bx, by, bz]
        self.level_new = True
        self.t_ref = temp
        self.temp = temp
        self.n = 1

    def to_bytes(self):
        """State as bytes (RTC memory across deep sleep), laid out by _COUNTERS and _FLOATS;
        starts with a version byte."""
        flags = self.hint << _HINT_SHIFT
        for name, bit in _FLAG_BITS:
            if getattr(self, name):
                flags |= bit
        vals = [VERSION, flags]
        for name in _COUNTERS:
            vals.append(min(getattr(self, name), 65535))
        for name, size in _FLOATS:
            if size:
                vals.extend(getattr(self, name))
            else:
                vals.append(getattr(self, name))
        return struct.pack(_FMT, *vals)

    @classmethod
    def from_bytes(cls, data, params=None):
        """Restore a detector from ``to_bytes()``. Raises ValueError on a foreign or bad blob
        (the board then starts afresh with ``Detector()`` and a recalibration)."""
        if len(data) != STATE_SIZE or data[0] != VERSION:
            raise ValueError("detector state: bad size or version")
        u = struct.unpack(_FMT, data)
        d = cls(params)
        for name, bit in _FLAG_BITS:
            setattr(d, name, bool(u[1] & bit))
        d.hint = (u[1] >> _HINT_SHIFT) & 3
        at = 2
        for name in _COUNTERS:
            setattr(d, name, u[at])
            at += 1
        d.window_pos %= _WIN
        for x in u[at:]:
            if x != x:  # NaN: corrupt
                raise ValueError("detector state: NaN")
        for name, size in _FLOATS:
            if size:
                setattr(d, name, list(u[at:at + size]))
                at += size
            else:
                setattr(d, name, u[at])
                at += 1
        d._health()
        return d

    # -- per sample -------------------------------------------------------------------------

    def expected(self):
        """Empty-bay field expected at the current temperature (baseline + thermal term)."""
        dt = self.temp - self.t_ref
        b = self.base
        k = self.temp_k
        return [b[0] + k[0] * dt, b[1] + k[1] * dt, b[2] + k[2] * dt]

    def update(self, t_s, bx, by, bz, temp_c, gap=1):
        """Feed one sample (µT, °C); returns ``occupied``. ``t_s`` is informational: the
        detector counts in nominal 1 Hz samples (the board's timer), so it never depends on a
        wall clock.

        ``gap`` > 1 says this sample ends ``gap`` seconds in which the board slept behind its
        magnetometer's wake-on-change threshold (see gate.py): the field stayed near where it
        was, so time-based terms (age, baseline tracking, calm, the neighbour estimate's
        decay) advance by ``gap`` while the median window and the switching counts advance
        by one sample.

        One stage after the other: filter, glitch count, motion and calm, the evidence for a
        vehicle, then arrival (and learning) while empty or departure while parked, the
        neighbour directions, confidence and health."""
        p = self.p
        if self.n == 0:
            self._seed(bx, by, bz, temp_c)
            self._health()
            return self.occupied
        if gap < 1:
            gap = 1
        self._tick(temp_c, gap)
        field = self._filter(bx, by, bz)
        self._count_glitch(bx, by, bz, field)
        stable = self._track_motion(field, gap)
        self._track_calm(field, gap)

        empty = self.expected()
        dist = [field[0] - empty[0], field[1] - empty[1], field[2] - empty[2]]
        mag = math.sqrt(dist[0] * dist[0] + dist[1] * dist[1] + dist[2] * dist[2])
        perp = _turn(dist, mag, empty)
        s_on = self._arrival_score(dist, mag, perp)
        s_off = max(perp / p["perp_off"], mag / p["mag_off"])
        self.mag = mag
        self.score = s_on

        if self.occupied:
            self._while_parked(field, empty, dist, mag, s_off, stable, temp_c, gap)
        else:
            self._while_empty(field, empty, dist, mag, s_on, stable, gap)
        if self.calm >= p["nb_calm"] and self.level_new:
            self._level(s_on)
        self._forget_directions(gap)
        self._confidence(s_on, s_off)
        self._health()
        return self.occupied

    def _tick(self, temp_c, gap):
        """Advance the clocks. Counts saturate rather than wrap: the state keeps them in 16
        bits, and a bay parked for days must not look freshly changed."""
        if self.n < 65535:
            self.n += 1
        self.quiet += gap
        self.age = min(65535, self.age + gap)
        self.temp = temp_c

    def _filter(self, bx, by, bz):
        """The filtered field: a per-axis median of the last _WIN raw samples. A read glitch
        or a car passing in the lane lasts one or two samples; a median of five cannot pass
        it, where an average would smear it over the next seconds."""
        w = self.window
        j = 3 * self.window_pos
        w[j] = bx
        w[j + 1] = by
        w[j + 2] = bz
        self.window_pos = (self.window_pos + 1) % _WIN
        return [_median5(w[0], w[3], w[6], w[9], w[12]),
                _median5(w[1], w[4], w[7], w[10], w[13]),
                _median5(w[2], w[5], w[8], w[11], w[14])]

    def _count_glitch(self, bx, by, bz, field):
        """The glitch rate, for the health figure. The median already rejects a glitch;
        their rate over the last hour says whether the sensor or its wiring is failing."""
        gx = abs(bx - field[0]) + abs(by - field[1]) + abs(bz - field[2])
        self.glitch += ((1.0 if gx > self.p["glitch_ut"] else 0.0) - self.glitch) / 3600.0

    def _track_motion(self, field, gap):
        """Is the filtered field stable (it moved less than stable_ut since the last sample)?
        Only stable samples may switch the state, so a manoeuvre never does. Also flags
        ``moving``: an unstable step far (move_ut) from the last calm level is a vehicle
        manoeuvring over this sensor, which the totem tells the neighbour bays at once (their
        sensors see its small offset from the side); at most once per move_hold samples."""
        p = self.p
        prev = self.prev
        step = math.sqrt((field[0] - prev[0]) ** 2 + (field[1] - prev[1]) ** 2
                         + (field[2] - prev[2]) ** 2)
        self.prev = field
        stable = step < p["stable_ut"]
        level = self.level
        self.moving = not stable and self.still >= p["move_hold"] and math.sqrt(
            (field[0] - level[0]) ** 2 + (field[1] - level[1]) ** 2
            + (field[2] - level[2]) ** 2) >= p["move_ut"]
        self.still = 0 if self.moving else min(65535, self.still + gap)
        return stable

    def _track_calm(self, field, gap):
        """How long the field has stayed within calm_ut (L1) of where it settled. Calm
        levels teach the neighbour directions (_level) and the totem is asked about a
        disturbance once it is calm; a move starts a new disturbance, so the totem's answer
        (about the last one) is dropped."""
        c = self.calm_ref
        if abs(field[0] - c[0]) + abs(field[1] - c[1]) + abs(field[2] - c[2]) > self.p["calm_ut"]:
            self.calm = 0
            self.calm_ref = field
            self.level_new = True
            if self.hint == NEIGHBOUR:
                self.recheck = True
            self.hint = NOT_ASKED
        else:
            self.calm = min(65535, self.calm + gap)

    def _arrival_score(self, dist, mag, perp):
        """The evidence for a vehicle, >= 1 to count: a turn of perp_on whatever the size
        (only an own-bay car turns the field that much), or a size over the magnitude
        threshold. A disturbance along a learnt neighbour direction and under mag_on is that
        neighbour's: its turn does not count. While empty, the totem's answer about this
        disturbance raises the score (no neighbour moved: ours) or caps it under mag_on (a
        neighbour's vehicle)."""
        p = self.p
        align = self._aligned(dist, mag)
        m_on = self._mag_threshold(align)
        if align >= p["nd_cos"] and mag < p["mag_on"]:
            s_on = mag / m_on  # the turn is that neighbour's
        else:
            s_on = max(perp / p["perp_on"], mag / m_on)
        if not self.occupied:
            if self.hint == CLEAR and mag >= p["hint_ut"]:
                s_on = max(s_on, mag / p["hint_ut"])  # nobody next door moved: it is ours
            elif self.hint == NEIGHBOUR and mag < p["mag_on"]:
                s_on = min(s_on, mag / p["mag_on"])  # a neighbour's vehicle, not ours
        return s_on

    def _mag_threshold(self, align):
        """The size of disturbance that means a vehicle whatever its direction: a margin over
        the neighbour activity seen while empty (nb_level), within mag_min..mag_on. High beside
        busy neighbours, mag_min where none is seen (parallel bays) or where the disturbance
        points in no direction a neighbour ever came from (align under nd_far), so weak cars
        count there."""
        p = self.p
        m_on = p["nb_gain"] * self.nb_level + p["nb_margin"]
        if align >= 0.0 and align < p["nd_far"]:
            m_on = p["mag_min"]  # in no direction a neighbour ever came from
        if m_on < p["mag_min"]:
            m_on = p["mag_min"]
        elif m_on > p["mag_on"]:
            m_on = p["mag_on"]
        return m_on

    def _while_empty(self, field, empty, dist, mag, s_on, stable, gap):
        """While the bay is empty: count stable samples over the thresholds towards an
        arrival; otherwise, on a stable field under them, learn (the baseline, the temperature
        terms, the neighbour activity level). Learning waits for stable samples under the
        thresholds so that an arriving car is never absorbed into the baseline."""
        p = self.p
        if s_on >= 1.0 and stable:
            self.count += 1
            if self.count >= p["n_on"] and self.recheck and mag < p["mag_on"]:
                # the totem said a neighbour explains the disturbance, then the field
                # moved on (a neighbour's car still settling): ask again before counting
                self.count = p["n_on"] - 1
            elif self.count >= p["n_on"]:
                self._arrive(field, dist)
        else:
            self.count = 0
            if stable and s_on < 1.0:
                self._adapt(field, empty, gap)
                if mag > self.nb_level and self.calm >= p["nb_calm"]:
                    self.nb_level = mag  # a settled neighbour-sized offset
        self.nb_level -= self.nb_level * _frac(gap, p["nb_tau"])

    def _arrive(self, field, dist):
        """A vehicle: the parked field and its signature are taken now and re-measured while
        it settles (_follow_vehicle); the calm level and the totem's answer belonged to the
        empty bay."""
        self.occupied = True
        self.count = 0
        self.age = 0
        self.level_ok = False
        self.hint = NOT_ASKED
        self.recheck = False
        self.occ_ref = list(field)
        self.signature = dist

    def _while_parked(self, field, empty, dist, mag, s_off, stable, temp_c, gap):
        """While a vehicle is parked: count stable samples where a departure rule holds
        towards a departure; on other stable samples, keep the parked field and the
        signature up to date (the rules compare the field with them)."""
        p = self.p
        parked = self.occ_ref
        jump = math.sqrt((field[0] - parked[0]) ** 2 + (field[1] - parked[1]) ** 2
                         + (field[2] - parked[2]) ** 2)
        leave = self._departure_seen(field, empty, mag, s_off, jump)
        if stable and not leave:
            self._follow_vehicle(field, dist, mag, jump, gap)
        if leave and stable:
            self.count += 1
            if self.count >= p["n_off"]:
                self._depart(field, temp_c)
        else:
            self.count = 0

    def _departure_seen(self, field, empty, mag, s_off, jump):
        """Does this sample look like the vehicle gone? Three rules, any one will do. The
        empty field cannot be seen while a car is parked, so hours of drift leave the field
        off from both the baseline and the signature; each rule copes with that in its own
        way. ``jump``: the distance of the field from the parked field."""
        p = self.p
        sig_v = self.signature
        sig = math.sqrt(sig_v[0] * sig_v[0] + sig_v[1] * sig_v[1] + sig_v[2] * sig_v[2])
        # back under the release thresholds counts only with a step away from the parked
        # field (temperature drift must not wear a weak vehicle's signature away), or when
        # the re-measured signature itself is that small (a transient, not a vehicle)
        if s_off < 1.0 and (jump >= p["dep_step"] * sig or sig < p["mag_off"]):
            return True
        # step-back: the settled step from the parked field undoes the arrival step
        parked = self.occ_ref
        res = math.sqrt((field[0] - parked[0] + sig_v[0]) ** 2
                        + (field[1] - parked[1] + sig_v[1]) ** 2
                        + (field[2] - parked[2] + sig_v[2]) ** 2)
        if res < p["dep_tol"] * sig:
            return True
        # a strong vehicle left and the field fell most of the way back to the baseline
        # (covers a signature measured wrongly, e.g. with a neighbour moving meanwhile)
        held = math.sqrt((parked[0] - empty[0]) ** 2 + (parked[1] - empty[1]) ** 2
                         + (parked[2] - empty[2]) ** 2)
        return jump > p["mag_on"] and mag < p["frac_back"] * held

    def _follow_vehicle(self, field, dist, mag, jump, gap):
        """A stable field and no departure. For settle_s after an arrival, or after a settled
        jump of more than mag_on (another vehicle, or the first real one after a doubtful
        arrival), the signature is what the field settles to, not its first stable seconds
        (the vehicle may still be settling, or a neighbour moving at the same time). Then the
        parked field follows slow changes (tau_occ)."""
        p = self.p
        if jump > p["mag_on"] and mag > p["mag_on"] and self.age >= p["settle_s"]:
            self.age = 0  # a new settled configuration: measure the signature again
        if self.age < p["settle_s"]:
            self.occ_ref = list(field)
            self.signature = dist
        else:
            a = _frac(gap, p["tau_occ"])
            parked = self.occ_ref
            for i in range(3):
                parked[i] += (field[i] - parked[i]) * a

    def _depart(self, field, temp_c):
        """The bay is empty again: re-anchor the baseline on the field now, whatever drift
        did while the vehicle hid the empty field."""
        self.occupied = False
        self.count = 0
        self.age = 0
        self.level_ok = False
        self.base = list(field)
        self.t_ref = temp_c

    def _forget_directions(self, gap):
        """The learnt neighbour directions fade with nb_tau, like the neighbour activity
        level: a direction last seen days ago no longer keeps a disturbance along it from
        counting by its turn."""
        a = 1.0 - _frac(gap, self.p["nb_tau"])
        for k in range(_ND):
            self.nb_weights[k] *= a

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

    def neighbour_hint(self, age_s, calm_s=None, every=True):
        """The totem's answer: seconds since a neighbour bay of this one last changed state
        (-1: none since the totem has known them; None: no answer). A neighbour change from
        at most hint_window s before the field settled here explains the disturbance;
        otherwise it is this bay's own, but only if the answer covers `every` neighbour (a
        space without a sensor beside this bay, or an unheard neighbour, may have changed).
        calm_s: how long ago the field settled, on the totem's clock (seconds); by default
        the calm count, which is that only when each sample takes one second."""
        self.recheck = False
        if calm_s is None:
            calm_s = self.calm
        if age_s is None:
            self.hint = NO_ANSWER
        elif 0 <= age_s <= calm_s + self.p["hint_window"]:
            self.hint = NEIGHBOUR
        elif every:
            self.hint = CLEAR
        else:
            self.hint = NO_ANSWER

    def _level(self, s_on):
        """The field has stayed at a new calm level for nb_calm samples. A step from the last
        level with no change of state in between, and no arrival pending, was made by
        something outside the bay: learn its direction."""
        p = self.p
        new = self.calm_ref
        old = self.level
        self.level_new = False
        if self.level_ok and (self.occupied or s_on < 1.0):
            st = [new[0] - old[0], new[1] - old[1], new[2] - old[2]]
            m = math.sqrt(st[0] * st[0] + st[1] * st[1] + st[2] * st[2])
            if p["nd_min"] <= m <= p["nd_max"]:
                self._learn([st[0] / m, st[1] / m, st[2] / m])
        self.level = list(new)
        self.level_ok = True

    def _learn(self, s):
        """Merge unit step s into the closest learnt direction (sign-free), or replace the
        least seen one."""
        dirs = self.nb_dirs
        weights = self.nb_weights
        best, bc = 0, -1.0
        for k in range(_ND):
            j = 3 * k
            c = abs(dirs[j] * s[0] + dirs[j + 1] * s[1] + dirs[j + 2] * s[2])
            if weights[k] > 0.0 and c > bc:
                best, bc = k, c
        if bc >= self.p["nd_merge"]:
            j = 3 * best
            w = weights[best]
            sg = 1.0 if dirs[j] * s[0] + dirs[j + 1] * s[1] + dirs[j + 2] * s[2] >= 0.0 else -1.0
            v = [dirs[j + i] * w + sg * s[i] for i in range(3)]
            n = math.sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]) or 1.0
            for i in range(3):
                dirs[j + i] = v[i] / n
            weights[best] = w + 1.0 if w < 15.0 else 16.0  # a bounded memory
        else:
            k = 0
            for i in range(1, _ND):
                if weights[i] < weights[k]:
                    k = i
            for i in range(3):
                dirs[3 * k + i] = s[i]
            weights[k] = 1.0

    def _aligned(self, d, mag):
        """Largest |cos| between d and a direction seen nd_seen times; -1 when none is."""
        if mag <= 0.0:
            return -1.0
        dirs = self.nb_dirs
        best = -1.0
        for k in range(_ND):
            if self.nb_weights[k] >= self.p["nd_seen"]:
                j = 3 * k
                c = abs(dirs[j] * d[0] + dirs[j + 1] * d[1] + dirs[j + 2] * d[2]) / mag
                if c > best:
                    best = c
        return best

    def _adapt(self, field, empty, gap=1):
        """Confidently empty and stable: follow drift and absorb neighbours, slowly; learn the
        temperature coefficient from what is left after the baseline (LMS)."""
        p = self.p
        a = _frac(gap, p["tau_base"])
        dt = self.temp - self.t_ref
        r = p["temp_rate"]
        km = p["temp_k_max"]
        for i in range(3):
            err = field[i] - empty[i]
            self.base[i] += err * a
            if dt != 0.0:
                k = self.temp_k[i] + r * err * dt / (1.0 + dt * dt)
                self.temp_k[i] = km if k > km else (-km if k < -km else k)
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
