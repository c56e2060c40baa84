"""Latency and heap of the pole firmware on virtual poles (the real MicroPython VM):

- presence_to_pwm_ms: presence sensor edge sent to the board -> first PWM change of the ramp;
- neighbour_frame_to_ramp_ms: ESP-NOW frame handed to the neighbour board -> its first PWM
  change;
- lighting_heap_bytes: heap the runtime + pole app hold after boot.

Both latencies include the emulator's host<->VM event path, so they over-estimate the chip.
"""

from __future__ import annotations

import re
import statistics
import tempfile
import time
from typing import Any

from host_tools.emulator.waiting import wait_until
from host_tools.testing.rigs.street import Pole, add_pole, pole_config, street_world, wait_level

FAST = {"dimmer": {"hold_ms": 0, "ramp_down_ms": 100, "ramp_up_ms": 250},
        "presence": {"release_ms": 0}}


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def _first_change_after(p: Pole, t0: float, timeout: float = 2.0) -> float | None:
    """Milliseconds from t0 to the lamp's first change at or after it, by the lamp's own time
    stamps (so how often this looks does not count), or None if none comes in `timeout` s."""
    def first() -> float | None:
        return next((t for t, _ in p.lamp.timeline if t >= t0), None)

    try:
        wait_until(lambda: first() is not None, timeout, "no lamp change")
    except TimeoutError:
        return None
    found = first()
    return None if found is None else (found - t0) * 1000


def _summary(name: str, xs: list[float], goal: float) -> dict[str, Any]:
    return {"bench": name, "n": len(xs), "p50": round(statistics.median(xs), 1),
            "p99": round(_pct(xs, 0.99), 1), "max": round(max(xs), 1), "goal_p99": goal,
            "unit": "ms", "where": "virtual poles (emulator event path included)"}


def run(samples: int = 40) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as d, street_world(d) as world:
        poles = [add_pole(world, pole_config(f"bench-{i}", i * 30.0, **FAST))
                 for i in range(2)]
        for p in poles:
            p.board.start()
        for p in poles:
            wait_level(p, lambda v: v == 10, 20)
        a, b = poles
        m = re.search(r"heap alloc (\d+) free (\d+)", a.board.output_text())
        if m:
            out.append({"bench": "lighting_heap_bytes",
                        "app_and_runtime": int(m.group(1)) - a.board.emulator_heap_at_boot(),
                        "heap_free": int(m.group(2)), "budget": a.board.heap_budget,
                        "vm": "unix 64-bit"})
        delivered: list[float] = []
        orig = b.board._deliver_espnow

        def spy(src: bytes, data: bytes, rssi: int) -> None:
            delivered.append(time.monotonic())
            orig(src, data, rssi)

        b.board._deliver_espnow = spy  # type: ignore[method-assign]
        driven: list[float] = []
        orig_drive = a.board._drive

        def spy_drive(gpio: int, level: int | None) -> None:
            driven.append(time.monotonic())  # in the world's loop, as the pin event leaves
            orig_drive(gpio, level)

        a.board._drive = spy_drive  # type: ignore[method-assign]
        edge, nb = [], []
        for i in range(samples):
            # every 4th sample waits for the neighbour to be back at base (it holds 5 s after
            # the origin's CLEAR), so its frame -> ramp latency can be timed too
            timed_nb = i % 4 == 0
            delivered.clear()
            driven.clear()
            a.pir.detect(True)
            lat = _first_change_after(a, driven[0]) if driven else None
            if lat is not None:
                edge.append(lat)
            time.sleep(0.1)
            if timed_nb and delivered:
                lat = _first_change_after(b, delivered[0])
                if lat is not None:
                    nb.append(lat)
            a.pir.detect(False)
            time.sleep(0.15)
            wait_level(a, lambda v: v == 10, 5)
            if i % 4 == 3:
                wait_level(b, lambda v: v == 10, 12)
        out.append(_summary("presence_to_pwm_ms", edge, 50))
        if nb:
            out.append(_summary("neighbour_frame_to_ramp_ms", nb, 100))
    return out


if __name__ == "__main__":
    import json

    for r in run(5):
        print(json.dumps(r))
