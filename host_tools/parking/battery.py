"""`bourg parking battery`: battery life of a sensor node, from what a virtual sensor board
does (wakes, time awake per wake, radio frames) times published current figures.

The virtual board runs the real node firmware through a scripted stretch of a day (a car
arrives and leaves, heartbeats fall due); the emulator counts its wakes, the time each wake
ran before going back to deep sleep, and the frames it sent. A day is then
  wakes/day = 86400 / sample period,
  charge/day = wakes x (boot + awake) x active current + frames x (TX + ack wait) +
               24 h x (deep-sleep + magnetometer standby) current.
The emulator's VM runs on a PC, so its awake time is a floor; the ESP32's boot from deep sleep
into MicroPython is an assumption given as --boot-ms (measure it on a board).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import asdict, dataclass

# Published figures (see docs/parking.md for the sources).
ESP32_DEEP_SLEEP_UA = 10.0  # ESP32 datasheet: deep sleep, RTC timer + RTC memory
ESP32_ACTIVE_MA = 30.0  # ESP32 datasheet: modem sleep, CPU 80 MHz (20-31 mA)
ESP32_TX_MA = 240.0  # ESP32 datasheet: TX 802.11b 1 Mbps, +19.5 dBm
ESP32_RX_MA = 100.0  # ESP32 datasheet: RX 802.11b/g/n (95-100 mA)
TX_MS = 1.0  # a 31-byte ESP-NOW frame at 1 Mbps with preamble: well under 1 ms
MAG_STANDBY_UA = 3.0  # QMC5883L datasheet: standby current
CELL_MAH = 3000.0  # 2 x AA lithium (Energizer L91 class)


@dataclass
class Measured:
    wakes: int
    awake_s: float
    frames: int
    reports: int


@dataclass
class Estimate:
    sample_ms: int
    events_per_day: int
    heartbeat_s: int
    boot_ms: float
    awake_ms_per_wake: float
    charge_mah_per_day: float
    sleep_mah_per_day: float
    wake_mah_per_day: float
    radio_mah_per_day: float
    years: float
    max_wakes_per_day_for_goal: int
    goal_years: float = 5.0


def measure(seconds: float = 40.0) -> Measured:
    """Run one virtual sensor (and a totem to ack it) for `seconds`, with a car arriving at
    a third of the run and leaving at two thirds."""
    from host_tools.emulator import World

    from .virtual_lot import WIFI, add_bay, add_totem

    with tempfile.TemporaryDirectory() as d, \
            World(d, access_points={WIFI[0]: WIFI[1]}) as w:
        bay = add_bay(w, "ps-batt", 1, "A01", 0.0, heartbeat_s=3600)
        totem, _ = add_totem(w, [bay], {"A01": "A"})
        totem.start()
        time.sleep(1.0)
        bay.board.start()
        t0 = time.monotonic()
        state = 0
        while time.monotonic() - t0 < seconds:
            el = time.monotonic() - t0
            if state == 0 and el > seconds / 3:
                bay.park(True)
                state = 1
            elif state == 1 and el > 2 * seconds / 3:
                bay.park(False)
                state = 2
            time.sleep(0.2)
        out = bay.board.output_text()
        return Measured(bay.board.sleeps, bay.board.awake_s, bay.board.tx_frames,
                        out.count("seq "))


def estimate(m: Measured, *, sample_ms: int = 1000, events_per_day: int = 20,
             heartbeat_s: int = 1800, boot_ms: float = 250.0, ack_wait_ms: float = 60.0
             ) -> Estimate:
    awake_ms = m.awake_s / max(1, m.wakes) * 1000
    wakes = 86400 * 1000 / sample_ms
    wake_mas = wakes * (boot_ms + awake_ms) / 1000 * ESP32_ACTIVE_MA
    frames = events_per_day * 2 * (m.frames / max(1, m.reports)) / 2 + 86400 / heartbeat_s
    radio_mas = frames * (TX_MS / 1000 * ESP32_TX_MA + ack_wait_ms / 1000 * ESP32_RX_MA)
    sleep_mah = 24 * (ESP32_DEEP_SLEEP_UA + MAG_STANDBY_UA) / 1000
    wake_mah, radio_mah = wake_mas / 3600, radio_mas / 3600
    total = sleep_mah + wake_mah + radio_mah
    # how many wakes a day the 5-year goal leaves room for, at this cost per wake
    budget = CELL_MAH / (5 * 365) - sleep_mah - radio_mah
    per_wake_mah = (boot_ms + awake_ms) / 1000 * ESP32_ACTIVE_MA / 3600
    max_wakes = max(0, int(budget / per_wake_mah))
    return Estimate(sample_ms, events_per_day, heartbeat_s, boot_ms, round(awake_ms, 1),
                    round(total, 3), round(sleep_mah, 3), round(wake_mah, 3),
                    round(radio_mah, 4), round(CELL_MAH / total / 365, 3), max_wakes)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seconds", type=float, default=40.0, help="virtual run to measure")
    p.add_argument("--sample-ms", type=int, default=1000)
    p.add_argument("--events", type=int, default=20, help="vehicle events per day")
    p.add_argument("--heartbeat-s", type=int, default=1800)
    p.add_argument("--boot-ms", type=float, default=250.0,
                   help="ESP32 deep-sleep wake to main.py (assumed; measure on a board)")


def run(args: argparse.Namespace) -> int:
    m = measure(args.seconds)
    e = estimate(m, sample_ms=args.sample_ms, events_per_day=args.events,
                 heartbeat_s=args.heartbeat_s, boot_ms=args.boot_ms)
    print(json.dumps({"measured": asdict(m), **asdict(e)}))
    return 0
