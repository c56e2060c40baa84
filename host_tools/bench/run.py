"""`make bench`: measured figures as JSON lines (one object per line, on stdout).

- boot_to_app_ready_ms: virtual board power-on to the runtime's `app-ready` (field-test app,
  compiled .mpy, no network), over several cold boots.
- runtime_heap_bytes: heap the runtime + field-test app hold after start (gc.collect()ed),
  beside what the emulator's own overlay modules take.
- role_heap_bytes: the same for each product (locker, parking sensor and totem, lighting).
- chip_heap_bytes: each role's heap estimated on the 32-bit ESP32 after some activity
  (host_tools.bench.chip_heap; the method is in docs/emulator.md).
- tls_heap_bytes: per role, what MQTT over TLS costs a board's MicroPython heap (measured on
  the VM) and the chip's IDF heap (estimated; host_tools.bench.tls_heap).
- ota_update_street: `bourg update` on a street of 12 virtual poles, waves 1, 2, 4, 5: wall
  time for a version bump and for a release where every file changed
  (host_tools.bench.ota_rollout).
- hil_suite_wall_s: wall time of `pytest hil_tests` on virtual boards.
- lighting: the night simulation against always-on, a peer setup and the fixed schedule
  (host_tools.lighting.bench), then presence -> PWM and neighbour frame -> ramp latencies and
  the pole app's heap on virtual poles (host_tools.lighting.board_bench).
- locker: the chance that a non-stop keypad attacker opens any compartment in 30 days
  (host_tools.locker.bench).
- parking: the detector on the shared samples and on simulated days, against the 5 uT
  fixed-threshold reference (host_tools.parking.bench).
- console_scale: the town console under a town's traffic with a burst, on SQLite and
  PostgreSQL: publish-to-stored latency, the availability API and the parking page's times
  (host_tools.bench.console_scale).
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TextIO

from host_tools.build import firmware
from host_tools.emulator import World
from host_tools.emulator.board import OVERLAY_HEAP_ALLOWANCE

FIELDTEST = {
    "schema": 1, "device_id": "bench-1", "role": "fieldtest", "site": "bench",
    "board": "esp32-devkitc", "pins": {"led": 25, "button": 4},
    "network": {"ssid": "no-such-ap", "mqtt": {"host": "mqtt.bench", "port": 1883, "tls": False,
                                               "keepalive": 30}},
    "app": {"tick_ms": 60000, "telemetry_ms": 60000},
}


RESULTS = firmware.REPO / "docs" / "results"
results_files: list[TextIO] = []  # the dated results file of this run, when there is one


def source_revision() -> str:
    """The commit the figures are of, "+dirty" when the tree has changes, so that a results
    file says what it measured; "unknown" outside a git checkout."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "--no-optional-locks", *args], cwd=firmware.REPO,
                              capture_output=True, text=True, timeout=10,
                              check=True).stdout.strip()

    try:
        rev = git("rev-parse", "--short", "HEAD")
        return rev + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def emit(obj: dict) -> None:
    line = json.dumps(obj)
    print(line, flush=True)
    for f in results_files:
        f.write(line + "\n")
        f.flush()


def bench_boot(runs: int = 10) -> None:
    with tempfile.TemporaryDirectory() as d, World(d) as world:
        b = world.add_board(FIELDTEST, firmware.stage(FIELDTEST, {"wifi_password": "x"}))
        times = []
        heap_alloc = None
        for _ in range(runs):
            mark = b.console_mark()
            t0 = time.perf_counter()
            b.start()
            b.wait_output("app-ready", 10, start=mark)
            times.append((time.perf_counter() - t0) * 1000)
            if heap_alloc is None:
                b.wait_output(r"heap alloc \d+", 10, start=mark)
                m = re.search(r"heap alloc (\d+) free (\d+)", b.output_since(mark))
                assert m
                heap_alloc, heap_free = int(m.group(1)), int(m.group(2))
                overlay = b.emulator_heap_at_boot()
            b.stop()
        times.sort()
        emit({"bench": "boot_to_app_ready_ms", "median": round(statistics.median(times), 1),
              "p90": round(times[int(0.9 * (len(times) - 1))], 1), "max": round(times[-1], 1),
              "runs": runs, "goal_lt": 500})
        emit({"bench": "runtime_heap_bytes", "app_and_runtime": heap_alloc - overlay,
              "overlay_heap_bytes": overlay, "heap_free": heap_free,
              "budget": b.heap_budget, "overlay_allowance": OVERLAY_HEAP_ALLOWANCE,
              "vm": "unix 64-bit"})


def bench_hil() -> None:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        str(firmware.REPO / "hil_tests")], capture_output=True, text=True,
                       cwd=firmware.REPO)
    wall = time.perf_counter() - t0
    last = (r.stdout.strip().splitlines() or [""])[-1]
    emit({"bench": "hil_suite_wall_s", "value": round(wall, 1), "result": last,
          "exit": r.returncode})


def bench_lighting(samples: int) -> None:
    from host_tools.lighting import bench as sim_bench
    from host_tools.lighting import board_bench

    for r in sim_bench.run():
        emit({"bench": "lighting_night", **r})
    for r in board_bench.run(samples):
        emit(r)


def bench_parking(sims: int) -> None:
    from host_tools.parking import bench as parking_bench

    rows = parking_bench.run(n_sims=sims)
    for r in rows:
        emit({"bench": "parking_detector", **r})
    from dataclasses import asdict

    from host_tools.parking import battery

    m = battery.measure()
    gated = {r["set"]: r for r in rows
             if r["bench"] == "parking-summary" and r["detector"] == "bourg_gated_assisted"}
    for profile in ("normal", "hard"):
        g = gated[f"sim-{profile}"]  # the gated node's day on the days just scored
        day = battery.Day(float(g["wakes_per_day"]), float(g["follow_samples_per_day"]),
                          float(g["changes_per_day"]), float(g["questions_per_day"]),
                          float(g["moving_per_day"]))
        for boot_ms in (250.0, 500.0):
            e = battery.estimate(m, day, boot_ms=boot_ms)
            emit({"bench": "parking_battery", "profile": profile, "duty": "wake_on_change",
                  **asdict(e), "goal_met": e.years >= e.goal_years})
    from host_tools.parking import row_bench

    for profile, day in row_bench.battery_days(rows).items():  # a replayed row of six
        for boot_ms in (250.0, 500.0):
            e = battery.estimate(m, day, boot_ms=boot_ms)
            emit({"bench": "parking_battery", "profile": profile,
                  "duty": "wake_on_change, row replay", "set": f"sim-rows-{profile}",
                  **asdict(e), "goal_met": e.years >= e.goal_years})
    t = battery.estimate(m, battery.timer_day(24.0), mag_ua=battery.QMC_STANDBY_UA)
    emit({"bench": "parking_battery", "profile": "any", "duty": "timer_1hz (QMC/HMC)",
          **asdict(t), "goal_met": t.years >= t.goal_years})


def bench_roles_heap() -> None:
    """Heap each product's app holds with the runtime after boot, on its virtual board."""
    from host_tools.bench import chip_heap
    from host_tools.testing.rigs.bank import WIFI, add_bank
    from host_tools.testing.rigs.lot import add_bay, add_totem
    from host_tools.testing.rigs.street import add_pole, pole_config

    with tempfile.TemporaryDirectory() as d, \
            World(d, access_points={WIFI[0]: WIFI[1]}) as w:
        bk = add_bank(w)
        bay = add_bay(w, "ps-01", 1, "A01", 0.0)
        lis = add_bay(w, "ps-02", 2, "A02", 3.0, chip="lis")
        totem, _ = add_totem(w, [bay, lis], {"A01": "A", "A02": "A"}, guidance=True)
        pole = add_pole(w, pole_config("pole-01", 0.0))
        boards = [bk.board, bay.board, lis.board, totem, pole.board]
        for b in boards:
            b.start()
        for b in boards:
            b.wait_output(r"heap alloc \d+", 20)
            m = re.search(r"heap alloc (\d+) free (\d+)", b.output_text())
            assert m is not None
            role = b.config["role"] + (" (wake on change)" if b is lis.board else "")
            emit({"bench": "role_heap_bytes", "role": role,
                  "app_and_runtime": int(m.group(1)) - chip_heap.boot_share(b),
                  "heap_free": int(m.group(2)), "budget": b.heap_budget,
                  "vm": "unix 64-bit"})


def bench_chip_heap() -> None:
    from host_tools.bench import chip_heap

    for r in chip_heap.run():
        emit(r)


def bench_tls_heap() -> None:
    from host_tools.bench import tls_heap

    for r in tls_heap.run():
        emit(r)


def bench_ota_update() -> None:
    from host_tools.bench import ota_rollout

    for r in ota_rollout.run():
        emit(r)


def bench_locker() -> None:
    from host_tools.locker import bench as locker_bench

    for r in locker_bench.run():
        emit(r)


def bench_virtual_time() -> None:
    from host_tools.bench import virtual_time

    for r in virtual_time.run():
        emit(r)


def bench_soak(hours: float) -> None:
    """The soak's wall time and its ratio of virtual to wall time (docs/soak.md)."""
    from host_tools.soak.run import run

    with tempfile.TemporaryDirectory(prefix="bourg-soak-") as d:
        r = run(Path(d), hours, seed=1)
    emit({"bench": "soak", "hours": hours, "boards": len(r["boards"]),
          "virtual_s": r["virtual_s"],
          "wall_s": r["wall_s"], "ratio": r["ratio"], "passed": r["passed"],
          "where": "this host, nothing else running"})


def bench_console() -> None:
    from host_tools.bench import console_scale

    for r in console_scale.run():
        emit(r)
