"""Trace simulator for the project's own tests: a magnetometer buried in a parking bay.

Physics (SI, field in µT, sensor frame x/y horizontal, z up, sensor at the origin):

* Earth's field: |B| 45..50 µT, inclination 60..68° (downwards), random sensor heading.
* A vehicle is a magnetic dipole ``m`` at ``p``: ``B = 0.1 * (3 (m.r̂) r̂ - m) / |r|^3`` µT
  (µ0/4π = 1e-7 T·m/A, times 1e6 for µT). Its moment is induced along the Earth field
  (magnitude by class: motorbike, car, van) plus a random permanent part; parking position
  jitters in the bay. *Weak* vehicles (high clearance, aluminium bodies) are scaled so the
  settled signature is only a few µT.
* Arrivals and departures are manoeuvres: the dipole moves along a path from the lane into the
  bay (a few seconds at 1 Hz). Labels switch when the car has settled (arrival) and when it
  starts to move (departure), as in the shared samples.
* Neighbouring bays (perpendicular layout: 2.5..3.0 m to the side; parallel: 6 m ahead/behind)
  have their own occupancy; lane traffic passes 3..5 m away at 2..14 m/s (the hard profile adds
  slow traffic and short stops beside the bay).
* Sensor: per-axis temperature coefficient on a daily temperature cycle, an offset random walk,
  Gaussian noise, and rare single-sample read glitches.

``simulate(profile, hours, seed)`` is deterministic for a given seed (``random.Random``).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from host_tools.parking import duty, traces
from host_tools.parking.traces import Trace

Vec = tuple[float, float, float]


@dataclass(frozen=True)
class Profile:
    noise_ut: float
    glitch_p: float
    temp_k_max: float  # µT/°C, per axis uniform in ±
    walk_ut: float  # offset random-walk step sd per second
    traffic_per_h: float
    slow_traffic_p: float  # share of lane vehicles that crawl (1..3 m/s)
    stops_per_day: float  # vehicles stopping 15..60 s in the lane beside the bay
    weak_p: float  # share of own-bay vehicles with a weak signature
    weak_ut: tuple[float, float]
    neighbour_busy: float  # neighbour bays: mean occupied / empty dwell ratio
    own_empty_mean_s: float
    temp_amp: tuple[float, float]


PROFILES: dict[str, Profile] = {
    "normal": Profile(noise_ut=0.2, glitch_p=1.5e-4, temp_k_max=0.12, walk_ut=0.002,
                      traffic_per_h=15.0, slow_traffic_p=0.0, stops_per_day=0.0, weak_p=0.12,
                      weak_ut=(2.4, 4.5), neighbour_busy=1.5, own_empty_mean_s=2400.0,
                      temp_amp=(3.0, 6.0)),
    "hard": Profile(noise_ut=0.3, glitch_p=6e-4, temp_k_max=0.25, walk_ut=0.004,
                    traffic_per_h=50.0, slow_traffic_p=0.1, stops_per_day=4.0, weak_p=0.35,
                    weak_ut=(2.2, 4.0), neighbour_busy=2.0, own_empty_mean_s=2400.0,
                    temp_amp=(5.0, 9.0)),
}


FIRST_ARRIVAL_S = 300


def dipole(m: Vec, p: Vec) -> Vec:
    """Field (µT) at the origin of a dipole ``m`` (A·m²) at ``p`` (m)."""
    rx, ry, rz = -p[0], -p[1], -p[2]
    r2 = rx * rx + ry * ry + rz * rz
    r = math.sqrt(r2)
    if r < 0.2:
        r, r2 = 0.2, 0.04
    ux, uy, uz = rx / r, ry / r, rz / r
    md = m[0] * ux + m[1] * uy + m[2] * uz
    c = 0.1 / (r2 * r)
    return (c * (3 * md * ux - m[0]), c * (3 * md * uy - m[1]), c * (3 * md * uz - m[2]))


def _norm(v: Vec) -> float:
    return math.sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2])


class Vehicle:
    """A vehicle: one or two dipoles (engine block + body) rigidly offset along its length."""

    def __init__(self, rng: random.Random, earth: Vec, heading: float, weak_ut: float | None,
                 scale_ref: Vec | None, weak: bool = False) -> None:
        kind = rng.random()
        if kind < 0.08:
            big, h = rng.uniform(10, 30), rng.uniform(0.35, 0.6)
        elif kind < 0.85:
            big, h = rng.uniform(60, 250), rng.uniform(0.3, 0.55)
        else:
            big, h = rng.uniform(200, 450), rng.uniform(0.4, 0.7)
        en = _norm(earth)
        self.parts: list[tuple[Vec, float, float]] = []  # (moment, offset along length, height)
        for frac, off in ((0.65, rng.uniform(0.3, 1.0)), (0.35, rng.uniform(-1.2, -0.4))):
            mm = big * frac
            perm = tuple(rng.gauss(0, 0.25) * mm for _ in range(3))
            m = tuple(earth[i] / en * mm + perm[i] for i in range(3))
            self.parts.append((m, off, h + rng.uniform(-0.1, 0.1)))  # type: ignore[arg-type]
        self.heading = heading
        self.scale = 1.0
        if weak_ut is not None and scale_ref is not None:
            # weak vehicle: scale to the drawn signature; any vehicle weaker than that is a
            # sensor-placement outlier the samples do not show, so it is scaled up likewise
            f = _norm(self.field(scale_ref, heading))
            if weak or f < weak_ut:
                self.scale = weak_ut / f if f > 0 else 1.0

    def field(self, pos: Vec, heading: float) -> Vec:
        ch, sh = math.cos(heading), math.sin(heading)
        bx = by = bz = 0.0
        for m, off, h in self.parts:
            p = (pos[0] + ch * off, pos[1] + sh * off, h)
            b = dipole(m, p)
            bx += b[0]
            by += b[1]
            bz += b[2]
        s = self.scale
        return (bx * s, by * s, bz * s)


def _path(rng: random.Random, lane_y: float, park: Vec, steps: int) -> list[Vec]:
    """Positions from the lane into the bay (arrival order), one per second."""
    start = (park[0] - 6.0, lane_y, 0.0)
    mid = (park[0] + rng.uniform(-1.5, 1.5), (lane_y + park[1]) / 2, 0.0)
    pts = []
    for k in range(steps):
        u = (k + 1) / (steps + 1)
        if u < 0.5:
            a, b, w = start, mid, u * 2
        else:
            a, b, w = mid, park, (u - 0.5) * 2
        pts.append((a[0] + (b[0] - a[0]) * w, a[1] + (b[1] - a[1]) * w, 0.0))
    return pts


def _manoeuvre(rng: random.Random, lane_y: float, n: int, iv: tuple[int, int],
               park: Vec) -> list[tuple[int, int, Vec]]:
    """Where a vehicle occupying a bay for ``iv`` is, as (from sample, to sample, position):
    a path from the lane a few seconds before, parked, and a path back after."""
    s, e = iv
    na = rng.randint(3, 12)
    nd = rng.randint(2, 8)
    out = [(i, i + 1, p) for i, p in enumerate(_path(rng, lane_y, park, na), start=s - na)
           if 0 <= i < n]
    out.append((s, e, park))
    out += [(i, i + 1, p) for i, p in enumerate(reversed(_path(rng, lane_y, park, nd)),
                                                 start=e) if 0 <= i < n]
    return out


def alternating(rng: random.Random, n: int, empty_mean: float, occ_mean: float,
                 first_s: int = 0) -> list[tuple[int, int]]:
    """Occupied intervals [start, end) over n seconds, exponential dwell times; the first
    starts at first_s or later."""
    out = []
    t = max(first_s, int(rng.expovariate(1.0 / empty_mean)))
    while t < n:
        d = max(120, int(rng.expovariate(1.0 / occ_mean)))
        if rng.random() < 0.35:
            d = rng.randint(180, 1500)  # short stays
        out.append((t, min(n, t + d)))
        t += d + max(90, int(rng.expovariate(1.0 / empty_mean)))
    return out


@dataclass
class Scene:
    """What one simulated day put in the street, so that a sensor elsewhere in the row can be
    rendered from the same vehicles: each placement (samples i0..i1, vehicle, position,
    heading), the neighbour bays (centre, occupied intervals), the street's Earth field, the
    lane, the bays' axis and the die temperature."""
    segments: list[tuple[int, int, Vehicle, Vec, float]] = field(default_factory=list)
    bays: list[tuple[tuple[float, float], list[tuple[int, int]]]] = field(default_factory=list)
    earth: Vec = (0.0, 0.0, 0.0)
    lane_y: float = 0.0
    heading: float = 0.0


def simulate(profile: str = "normal", hours: float = 24.0, seed: int = 0,
             layout: str | None = None) -> Trace:
    return _simulate(profile, hours, seed, layout, None)


def _simulate(profile: str, hours: float, seed: int, layout: str | None,
              scene: Scene | None) -> Trace:
    """The centre bay's trace; with ``scene``, also what a sensor elsewhere in the row needs:
    every vehicle's placement, the street and the neighbour bays' occupancy. Recording draws
    nothing from the generator, so the trace is the same either way. Each part below draws
    from the one generator in turn, so their order is part of the trace (a seed's day)."""
    pr, rng, n, layout, earth = day_start(profile, hours, f"bourg-parking/{profile}/{seed}",
                                          layout)
    heading, neighbours, lane_y = _geometry(rng, layout)
    street = Street(n, earth, lane_y, scene)
    if scene is not None:
        scene.earth, scene.lane_y, scene.heading = earth, lane_y, heading
    _own_bay(rng, pr, street, earth, heading)
    nb_changes = _neighbour_bays(rng, pr, street, earth, heading, neighbours)
    lane_traffic(rng, pr, street, earth)
    lane_stops(rng, pr, street, earth, hours)
    bx, by, bz = street.cols
    temps = sensor_effects(rng, pr, street.cols)
    return Trace([float(i) for i in range(n)], bx, by, bz, temps, street.occ,
                 meta={"rate_hz": "1", "layout": layout, "profile": profile, "seed": str(seed)},
                 neighbour_changes=sorted(nb_changes))


def day_start(profile: str, hours: float, rng_name: str, layout: str | None
              ) -> tuple[Profile, random.Random, int, str, Vec]:
    """What every simulated day draws first, in this order: the profile, the day's seeded
    generator, its length in samples, the layout (drawn when not given) and the street's
    Earth field."""
    rng = random.Random(rng_name)
    layout = layout or rng.choice(["parallel", "perpendicular"])
    return PROFILES[profile], rng, int(hours * 3600), layout, earth_field(rng)


def earth_field(rng: random.Random) -> Vec:
    """|B| 45..50 µT, inclination 60..68° (downwards), a random sensor heading."""
    F, inc, psi = rng.uniform(45, 50), math.radians(rng.uniform(60, 68)), rng.uniform(0, 6.283)
    return (F * math.cos(inc) * math.cos(psi), F * math.cos(inc) * math.sin(psi),
            -F * math.sin(inc))


def _geometry(rng: random.Random, layout: str
              ) -> tuple[float, list[tuple[float, float]], float]:
    """(bays' axis, neighbour bays' centres, lane y): the bay axis along y (perpendicular) or
    x (parallel); the lane on the -y side."""
    if layout == "perpendicular":
        heading = math.pi / 2
        neighbours = [(-rng.uniform(2.5, 3.0), 0.0), (rng.uniform(2.5, 3.0), 0.0)]
        lane_y = -rng.uniform(4.0, 5.0)
    else:
        heading = 0.0
        neighbours = [(-6.0, 0.0), (6.0, 0.0)]
        lane_y = -rng.uniform(3.0, 4.0)
    return heading, neighbours, lane_y


class Street:
    """The day at the centre sensor as it is drawn: the field it sees (the Earth's plus every
    vehicle put in the street), the centre bay's labels, and, with a scene, each placement."""

    def __init__(self, n: int, earth: Vec, lane_y: float, scene: Scene | None) -> None:
        self.n = n
        self.lane_y = lane_y
        self.cols = ([earth[0]] * n, [earth[1]] * n, [earth[2]] * n)
        self.occ = [0] * n
        self.scene = scene

    def put(self, i0: int, i1: int, veh: Vehicle, p: Vec, heading: float) -> None:
        """The vehicle at ``p`` from sample i0 to i1 (exclusive)."""
        b = veh.field(p, heading)
        bx, by, bz = self.cols
        for i in range(max(0, i0), min(self.n, i1)):
            bx[i] += b[0]
            by[i] += b[1]
            bz[i] += b[2]
        if self.scene is not None and i0 < self.n and i1 > 0:
            self.scene.segments.append((max(0, i0), min(self.n, i1), veh, p, heading))

    def place(self, rng: random.Random, iv: tuple[int, int], veh: Vehicle, park: Vec,
              label: bool) -> None:
        """A vehicle occupying a bay for ``iv``, manoeuvres included; ``label``: the centre
        bay's, whose departure label switches when the car starts to move."""
        for i0, i1, p in _manoeuvre(rng, self.lane_y, self.n, iv, park):
            self.put(i0, i1, veh, p, veh.heading)
        if label:
            for i in range(max(0, iv[0]), min(self.n, iv[1])):
                self.occ[i] = 1


def _own_bay(rng: random.Random, pr: Profile, street: Street, earth: Vec,
             heading: float) -> None:
    """The centre bay's vehicles, a share of them weak. A sensor is installed (and
    calibrated) in an empty bay, as every shared sample starts: the first vehicle arrives
    after the manoeuvre-free first minutes."""
    for iv in alternating(rng, street.n, pr.own_empty_mean_s, 5400.0,
                           first_s=FIRST_ARRIVAL_S):
        park = (rng.uniform(-0.3, 0.3), rng.uniform(-0.5, 0.5), 0.0)
        weak = rng.random() < pr.weak_p
        sig = rng.uniform(*pr.weak_ut)
        veh = Vehicle(rng, earth, heading + rng.choice([0.0, math.pi]), sig, park, weak)
        street.place(rng, iv, veh, park, True)


def _neighbour_bays(rng: random.Random, pr: Profile, street: Street, earth: Vec,
                    heading: float, neighbours: list[tuple[float, float]]) -> list[float]:
    """The neighbour bays' vehicles (the labels are the centre bay's: untouched); returns
    their changes, which the totem hears of."""
    nb_changes: list[float] = []
    for nx, ny in neighbours:
        ivs = alternating(rng, street.n, 3600.0, 3600.0 * pr.neighbour_busy)
        for iv in ivs:
            park = (nx + rng.uniform(-0.3, 0.3), ny + rng.uniform(-0.5, 0.5), 0.0)
            veh = Vehicle(rng, earth, heading + rng.choice([0.0, math.pi]), None, None)
            street.place(rng, iv, veh, park, False)
            nb_changes += [float(c) for c in iv if 0 < c < street.n]
        if street.scene is not None:
            street.scene.bays.append(((nx, ny), ivs))
    return nb_changes


def lane_traffic(rng: random.Random, pr: Profile, street: Street, earth: Vec) -> None:
    """Vehicles passing in the lane, one sample per second while within 25 m."""
    n, lane_y = street.n, street.lane_y
    t = 0.0
    while True:
        t += rng.expovariate(pr.traffic_per_h / 3600.0)
        if t >= n:
            break
        v = rng.uniform(1.0, 3.0) if rng.random() < pr.slow_traffic_p else rng.uniform(5, 14)
        veh = Vehicle(rng, earth, 0.0, None, None)
        y = lane_y + rng.uniform(-0.5, 1.0)
        dirn = rng.choice([-1.0, 1.0])
        x0 = -30.0 * dirn
        i0 = int(t)
        for k in range(int(60.0 / v) + 1):
            x = x0 + dirn * v * (k + (t - i0))
            i = i0 + k
            if i < n and abs(x) < 25:
                street.put(i, i + 1, veh, (x, y, 0.0), 0.0)


def lane_stops(rng: random.Random, pr: Profile, street: Street, earth: Vec,
                hours: float) -> None:
    """Short stops beside the bay (delivery, drop-off): a settled offset for 15..60 s."""
    n = street.n
    for _ in range(int(pr.stops_per_day * hours / 24.0 + rng.random())):
        s = rng.randint(0, max(0, n - 61))
        veh = Vehicle(rng, earth, 0.0, None, None)
        p = (rng.uniform(-2, 2), street.lane_y + rng.uniform(0.0, 1.0), 0.0)
        street.put(s, s + rng.randint(15, 60), veh, p, 0.0)


def sensor_effects(rng: random.Random, pr: Profile,
            cols: tuple[list[float], list[float], list[float]]) -> list[float]:
    """What the sensor adds to the field in ``cols`` (in place): a thermal coefficient per
    axis on the day's temperature, an offset random walk, noise, read glitches. Returns the
    die temperature per sample."""
    n = len(cols[0])
    tmean = rng.uniform(3, 14)
    amp = rng.uniform(*pr.temp_amp)
    phase = rng.uniform(0, 1)
    k = [rng.uniform(-pr.temp_k_max, pr.temp_k_max) for _ in range(3)]
    walk = [0.0, 0.0, 0.0]
    temps: list[float] = []
    tslow = 0.0
    t0 = tmean + amp * math.sin(2 * math.pi * (0 - 0.375 + phase))
    for i in range(n):
        tslow += (rng.gauss(0, 0.5) - tslow) / 1800.0
        temp = tmean + amp * math.sin(2 * math.pi * (i / 86400.0 - 0.375 + phase)) + tslow
        temps.append(round(temp, 2))
        g = rng.random() < pr.glitch_p
        for a in range(3):
            walk[a] += rng.gauss(0, pr.walk_ut)
            cols[a][i] += k[a] * (temp - t0) + walk[a] + rng.gauss(0, pr.noise_ut)
        if g:
            a = rng.randrange(3)
            cols[a][i] = rng.choice([0.0, -327.68, rng.uniform(-300, 300)])
    return temps


@dataclass
class Row:
    """A simulated day of three bays side by side: ``centre`` (the bay the bench scores) and
    ``sides``, the sensors of its two neighbour bays, each seeing its own bay's vehicles, the
    centre bay's, an outer bay's beyond it and the lane, through its own installation heading,
    thermal coefficients, offset walk, noise and glitches."""
    centre: Trace
    sides: list[Trace]


def simulate_row(profile: str = "normal", hours: float = 24.0, seed: int = 0,
                 layout: str | None = None) -> Row:
    """The centre trace is ``simulate(profile, hours, seed, layout)``, sample for sample; the
    neighbour sensors draw from their own generator. Simplifications: the neighbour bays'
    vehicles are never scaled weak (their sensors see them as the centre sees an ordinary
    car), and the outer bays' vehicles do not reach the centre sensor (5..12 m away)."""
    scene = Scene()
    centre = _simulate(profile, hours, seed, layout, scene)
    pr = PROFILES[profile]
    rng = random.Random(f"bourg-parking/{profile}/{seed}/row")
    n = len(centre)
    sides = []
    for k, ((nx, ny), ivs) in enumerate(scene.bays):
        segs = list(scene.segments)
        for iv in alternating(rng, n, 3600.0, 3600.0 * pr.neighbour_busy):  # the outer bay
            park = (2 * nx + rng.uniform(-0.3, 0.3), ny + rng.uniform(-0.5, 0.5), 0.0)
            veh = Vehicle(rng, scene.earth, scene.heading + rng.choice([0.0, math.pi]),
                           None, None)
            segs += [(max(0, i0), min(n, i1), veh, p, veh.heading)
                     for i0, i1, p in _manoeuvre(rng, scene.lane_y, n, iv, park)]
        sides.append(render(rng, pr, scene, segs, (nx, ny), centre, occupied(ivs, n), k))
    return Row(centre, sides)


def occupied(ivs: list[tuple[int, int]], n: int) -> list[int]:
    """A bay's labels over n samples from its occupied intervals [start, end)."""
    occ = [0] * n
    for s, e in ivs:
        for i in range(max(0, s), min(n, e)):
            occ[i] = 1
    return occ


def render(rng: random.Random, pr: Profile, scene: Scene,
            segs: list[tuple[int, int, Vehicle, Vec, float]], at: tuple[float, float],
            centre: Trace, occ: list[int], k: int) -> Trace:
    """The trace of a sensor at ``at`` (street metres, centre sensor at the origin)."""
    n = len(occ)
    wx, wy, wz = [scene.earth[0]] * n, [scene.earth[1]] * n, [scene.earth[2]] * n
    for i0, i1, veh, p, h in segs:
        b = veh.field((p[0] - at[0], p[1] - at[1], p[2]), h)
        for i in range(i0, i1):
            wx[i] += b[0]
            wy[i] += b[1]
            wz[i] += b[2]
    th = rng.uniform(0, 2 * math.pi)  # the sensor's own heading in its bay
    c, s = math.cos(th), math.sin(th)
    cols = ([c * x + s * y for x, y in zip(wx, wy, strict=True)],
            [c * y - s * x for x, y in zip(wx, wy, strict=True)], wz)
    kt = [rng.uniform(-pr.temp_k_max, pr.temp_k_max) for _ in range(3)]
    walk = [0.0, 0.0, 0.0]
    temps = centre.temp  # the same street, the same weather
    for i in range(n):
        g = rng.random() < pr.glitch_p
        for a in range(3):
            walk[a] += rng.gauss(0, pr.walk_ut)
            cols[a][i] += kt[a] * (temps[i] - temps[0]) + walk[a] + rng.gauss(0, pr.noise_ut)
        if g:
            a = rng.randrange(3)
            cols[a][i] = rng.choice([0.0, -327.68, rng.uniform(-300, 300)])
    meta = dict(centre.meta, bay=("left", "right")[k] if k < 2 else str(k))
    return Trace(list(centre.t), cols[0], cols[1], cols[2], list(temps), occ, meta=meta)


RADIO_S = 0.5  # a node reports a change at once: ESP-NOW frame and ACK, plus the sample's wait


def neighbour_reports(row: Row, params: dict[str, float] | None = None,
                      gated: bool = False) -> list[tuple[float, float]]:
    """(heard at, changed at) of what the neighbour bays' own nodes tell the totem, sorted:
    the 1 Hz detector run on each side trace (``gated``: the wake-on-change node's, on the
    samples it would take, duty.replay_gated); a frame for every change it detects and
    every time it flags its field moving (``Detector.moving``: a vehicle manoeuvring over
    it, before it settles), heard RADIO_S later and dated by the node (the frame says how
    long ago its node saw the change, as bays.Bays keeps it). The neighbours decide alone:
    their own questions to the totem are not simulated."""
    out = []
    for side in row.sides:
        if gated:
            told: list[float] = []
            duty.replay_gated(side, params, told=told)
            out += [(t + RADIO_S, t) for t in told]
            continue
        det = traces.detector_module().Detector(params)
        occ = False
        for t, bx, by, bz, temp in side.samples():
            now = det.update(t, bx, by, bz, temp)
            if now != occ or det.moving:
                out.append((t + RADIO_S, t))
            occ = now
    return sorted(out)


def comments(tr: Trace) -> list[str]:
    return [f"{k}: {v}" for k, v in tr.meta.items()]
