"""Night scenarios (../shared/lighting/SCENARIO.md): load, check, and generate unseen streets
like the sample (seeded)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from host_tools.lighting.fw import SHARED_DIR

KINDS = ("pedestrian", "cyclist", "car")
SAMPLE = SHARED_DIR / "sample-street.json"


class ScenarioError(ValueError):
    pass


def load(path: str | Path) -> dict[str, Any]:
    with open(path) as f:
        sc = json.load(f)
    check(sc)
    return sc


def check(sc: Any) -> None:
    """Raise ScenarioError when the scenario does not follow SCENARIO.md."""
    if not isinstance(sc, dict):
        raise ScenarioError("scenario: expected an object")
    for k in ("night_s", "poles", "luminaire", "sensor", "required", "movers"):
        if k not in sc:
            raise ScenarioError(f"{k}: missing")
    if not isinstance(sc["night_s"], (int, float)) or sc["night_s"] <= 0:
        raise ScenarioError("night_s: expected a positive number")
    poles = sc["poles"]
    if not isinstance(poles, list) or not poles:
        raise ScenarioError("poles: expected a non-empty list")
    ids = set()
    for i, p in enumerate(poles):
        if not isinstance(p, dict) or not isinstance(p.get("id"), str) or \
                not isinstance(p.get("x_m"), (int, float)):
            raise ScenarioError(f"poles[{i}]: expected {{id: str, x_m: number}}")
        if p["id"] in ids or "," in p["id"]:
            raise ScenarioError(f"poles[{i}].id: duplicate or contains a comma")
        ids.add(p["id"])
    xs = [p["x_m"] for p in poles]
    if xs != sorted(xs) or len(set(xs)) != len(xs):
        raise ScenarioError("poles: x_m must increase along the list")
    lum = sc["luminaire"]
    if not all(isinstance(lum.get(k), (int, float)) and lum[k] >= 0
               for k in ("full_w", "standby_w")):
        raise ScenarioError("luminaire: expected full_w and standby_w >= 0")
    if not isinstance(sc["sensor"].get("range_m"), (int, float)) or sc["sensor"]["range_m"] <= 0:
        raise ScenarioError("sensor.range_m: expected a positive number")
    for i, m in enumerate(sc["movers"]):
        if m.get("kind") not in sc["required"]:
            raise ScenarioError(f"movers[{i}].kind: no requirement for {m.get('kind')!r}")
        if not m.get("speed_mps", 0) > 0:
            raise ScenarioError(f"movers[{i}].speed_mps: expected > 0")
        for k in ("t_s", "from_x_m", "to_x_m"):
            if not isinstance(m.get(k), (int, float)):
                raise ScenarioError(f"movers[{i}].{k}: expected a number")


# hour-of-night weights of the sample street (busy evening, quiet small hours, morning rise)
_HOUR_W = [30, 26, 21, 24, 20, 11, 7, 8, 8, 3, 9, 13]
_SPEED = {"pedestrian": (1.0, 1.7), "cyclist": (4.0, 9.0), "car": (8.0, 14.0)}
_MIX = (("pedestrian", 0.61), ("cyclist", 0.21), ("car", 0.18))


def generate(seed: int, n_poles: int | None = None, n_movers: int | None = None,
             night_s: float = 43200.0) -> dict[str, Any]:
    """A street like sample-street.json: straight, 8..16 poles 25..35 m apart (a little
    irregular), movers entering from either end (some stop part-way), same requirements."""
    rnd = random.Random(seed)
    n = n_poles or rnd.randint(8, 16)
    spacing = rnd.uniform(25.0, 35.0)
    xs = [0.0]
    for _ in range(n - 1):
        xs.append(round(xs[-1] + spacing * rnd.uniform(0.85, 1.15), 1))
    end = xs[-1]
    lo, hi = -20.0, round(end + 20.0, 1)
    movers = []
    count = n_movers or rnd.randint(120, 240)
    hours = int(night_s // 3600) or 1
    weights = [_HOUR_W[h % len(_HOUR_W)] for h in range(hours)]
    for _ in range(count):
        hour = rnd.choices(range(hours), weights)[0]
        t = round(min(night_s - 1.0, hour * 3600 + rnd.uniform(0, 3600)), 1)
        r = rnd.random()
        kind = _MIX[0][0] if r < _MIX[0][1] else _MIX[1][0] if r < _MIX[0][1] + _MIX[1][1] \
            else _MIX[2][0]
        v = round(rnd.uniform(*_SPEED[kind]), 2)
        forward = rnd.random() < 0.5
        a, b = (lo, hi) if forward else (hi, lo)
        if rnd.random() < 0.06:  # turns off into a house or a side street
            b = round(rnd.uniform(xs[1], xs[-2]), 1)
        movers.append({"t_s": t, "kind": kind, "speed_mps": v, "from_x_m": a, "to_x_m": b})
    movers.sort(key=lambda m: m["t_s"])
    return {
        "name": f"generated-{seed}",
        "night_s": night_s,
        "poles": [{"id": f"P{i + 1:02d}", "x_m": x} for i, x in enumerate(xs)],
        "luminaire": {"full_w": 78.0, "standby_w": 0.8},
        "sensor": {"range_m": 18.0},
        "required": {"pedestrian": {"under_pct": 90, "ahead_pct": 50},
                     "cyclist": {"under_pct": 90, "ahead_pct": 50},
                     "car": {"under_pct": 50, "ahead_pct": 0}},
        "movers": movers,
    }
