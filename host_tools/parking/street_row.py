"""Whole simulated rows of bays (issue 21): the project's own rows, for designing the row
detector; the shared rows (``../shared/parking/rows``) are kept for checking.

A row is ``bays`` sensed bays side by side (six by default), all on one street and one day:
- each bay has its own vehicles, a profile's share of them weak (scaled at their own sensor
  to 2.2..4.5 µT, so they are weaker still at the next one);
- with ``unsensed_ends``, a bay beyond each end has no sensor, and ordinary vehicles (vans
  among them) park there;
- the lane's traffic and short stops pass the row;
- every sensor is rendered from every vehicle in the street, through its own installation
  (heading, thermal coefficients, offset walk, noise, glitches); one weather for the street.

It returns a ``rows.Row`` as ``load_row`` reads a ROW-FORMAT.md folder, so the replay and
the score see no difference; ``write_row`` makes that folder.

Why not ``simulate.simulate_row``: it renders one bay's day with two sides whose vehicles are
never weak and nothing beyond them, which is where the unseen streets' misses gather.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

from host_tools.parking import traces
from host_tools.parking.rows import Row
from host_tools.parking.simulate import (
    FIRST_ARRIVAL_S,
    PROFILES,
    Scene,
    Street,
    Vehicle,
    alternating,
    day_start,
    lane_stops,
    lane_traffic,
    occupied,
    render,
    sensor_effects,
)


class _Recorder(Street):
    """The lane helpers' street, recording each placement for every sensor to render later
    (the centre sensor's own columns are not drawn here)."""

    def __init__(self, n: int, earth: tuple[float, float, float], lane_y: float) -> None:
        super().__init__(n, earth, lane_y, Scene(earth=earth, lane_y=lane_y))

    def put(self, i0: int, i1: int, veh: Vehicle, p: tuple[float, float, float],
            heading: float) -> None:
        if i0 < self.n and i1 > 0:
            assert self.scene is not None
            self.scene.segments.append((max(0, i0), min(self.n, i1), veh, p, heading))


def _layout(rng: random.Random, layout: str) -> tuple[float, float, float]:
    """(bays' axis, pitch between bay centres in metres, lane y), as ROW-FORMAT.md's ranges:
    perpendicular 2.3..2.7 m, parallel 5.2..6.0 m; the lane on the -y side."""
    if layout == "perpendicular":
        return math.pi / 2, rng.uniform(2.3, 2.7), -rng.uniform(4.0, 5.0)
    return 0.0, rng.uniform(5.2, 6.0), -rng.uniform(3.0, 4.0)


def simulate_street_row(profile: str = "normal", hours: float = 24.0, seed: int = 0,
                        bays: int = 6, layout: str | None = None,
                        unsensed_ends: bool = True) -> Row:
    """A labelled row, the same for the same arguments. The row is centred on x = 0, where
    the lane helpers of ``simulate`` pass their traffic and stops."""
    if bays < 2:
        raise ValueError("a row has at least two bays")
    pr, rng, n, layout, earth = day_start(
        profile, hours, f"bourg-parking-street-row/{profile}/{seed}/{bays}", layout)
    heading, pitch, lane_y = _layout(rng, layout)
    street = _Recorder(n, earth, lane_y)
    xs = [(k - (bays - 1) / 2) * pitch for k in range(bays)]
    labels = []
    for x in xs:
        ivs = alternating(rng, n, pr.own_empty_mean_s, 5400.0, first_s=FIRST_ARRIVAL_S)
        for iv in ivs:
            dx, dy = rng.uniform(-0.3, 0.3), rng.uniform(-0.5, 0.5)
            weak = rng.random() < pr.weak_p
            sig = rng.uniform(*pr.weak_ut)
            veh = Vehicle(rng, earth, heading + rng.choice([0.0, math.pi]), sig,
                           (dx, dy, 0.0), weak)
            street.place(rng, iv, veh, (x + dx, dy, 0.0), False)
        labels.append(ivs)
    if unsensed_ends:
        # a generator of their own: the same seed with and without them differs only there
        ends = random.Random(f"bourg-parking-street-row/{profile}/{seed}/{bays}/ends")
        for x in (xs[0] - pitch, xs[-1] + pitch):
            for iv in alternating(ends, n, 3600.0, 3600.0 * pr.neighbour_busy):
                park = (x + ends.uniform(-0.3, 0.3), ends.uniform(-0.5, 0.5), 0.0)
                veh = Vehicle(ends, earth, heading + ends.choice([0.0, math.pi]), None, None)
                street.place(ends, iv, veh, park, False)
    lane_traffic(rng, pr, street, earth)
    lane_stops(rng, pr, street, earth, hours)
    assert street.scene is not None
    return _rendered(rng, profile, seed, layout, pitch, unsensed_ends, street.scene, xs,
                     labels, n)


def _rendered(rng: random.Random, profile: str, seed: int, layout: str, pitch: float,
              unsensed_ends: bool, scene: Scene, xs: list[float],
              labels: list[list[tuple[int, int]]], n: int) -> Row:
    """Each sensor's trace: the first through ``simulate.sensor_effects`` (which draws the street's
    weather), the others through ``simulate.render`` on that weather."""
    pr = PROFILES[profile]
    meta = {"rate_hz": "1", "layout": layout, "profile": profile, "seed": str(seed)}
    first = Street(n, scene.earth, scene.lane_y, None)
    for i0, i1, veh, p, h in scene.segments:
        first.put(i0, i1, veh, (p[0] - xs[0], p[1], p[2]), h)
    temps = sensor_effects(rng, pr, first.cols)
    trs = [traces.Trace([float(i) for i in range(n)], *first.cols, temps,
                        occupied(labels[0], n), meta=dict(meta))]
    for k in range(1, len(xs)):
        tr = render(rng, pr, scene, scene.segments, (xs[k], 0.0), trs[0],
                     occupied(labels[k], n), k)
        tr.meta = dict(meta)
        trs.append(tr)
    ids = [f"B{k + 1}" for k in range(len(xs))]
    return Row(ids, trs, layout, round(pitch, 3), unsensed_ends,
               {"path": f"sim-row/{profile}/{seed}", "profile": profile, "seed": seed,
                "positions_m": [round(x - xs[0], 3) for x in xs]})


def write_row(row: Row, out_dir: str | Path) -> Path:
    """The row as a ROW-FORMAT.md folder: ``row.json`` and one gzipped trace per bay."""
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    pos = row.meta.get("positions_m") or [k * row.pitch_m for k in range(len(row.ids))]
    assert isinstance(pos, list)
    for bay_id, tr in zip(row.ids, row.traces, strict=True):
        traces.write_trace(d / f"{bay_id}.csv.gz", tr)
    spec = {"layout": row.layout, "pitch_m": row.pitch_m,
            "bays": [{"id": b, "trace": f"{b}.csv.gz", "position_m": p}
                     for b, p in zip(row.ids, pos, strict=True)],
            "unsensed_ends": row.unsensed_ends}
    (d / "row.json").write_text(json.dumps(spec, indent=1) + "\n", encoding="utf-8")
    return d
