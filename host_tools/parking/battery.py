"""Battery life of a sensor node (`bourg parking battery`, `make bench`), from what a virtual
sensor board does times published current figures, with the day's activity taken from traces.

Two measurements, then arithmetic:
* the virtual board (real firmware, LIS2MDL model with its INT on an ext1 pin, a totem acking)
  runs through a car arriving and leaving; the emulator counts deep-sleep wakes, light-sleep
  samples, time spent running and radio frames, which gives the running time per sample and
  the frames per reported change;
* the duty cycle replayed on simulated days (host_tools.parking.duty, the firmware's gate.py
  and detector.py) gives wakes, follow samples and changes per day for a street profile.

charge/day = wakes x boot x I_active + samples x run time x I_active
           + follow samples x sample period x I_light_sleep
           + frames x (TX x I_tx + ack wait x I_rx) + MOVING frames x TX x I_tx
           + 24 h x (I_deep_sleep + I_magnetometer)

The emulator's VM runs on a PC, so its running time is a floor; the ESP32's boot from deep
sleep into MicroPython is an assumption (boot_ms, the command's --boot-ms): measure it on a
board. The same arithmetic is shown for a chip without a threshold interrupt (one deep-sleep
wake a second), which is what the QMC5883L and HMC5883L nodes do.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass
from typing import Any

# Published figures (see docs/parking.md for the sources).
ESP32_DEEP_SLEEP_UA = 10.0  # ESP32 datasheet: deep sleep, RTC timer + RTC memory
ESP32_LIGHT_SLEEP_MA = 0.8  # ESP32 datasheet: light sleep
ESP32_ACTIVE_MA = 30.0  # ESP32 datasheet: modem sleep, CPU 80 MHz (20-31 mA)
ESP32_TX_MA = 240.0  # ESP32 datasheet: TX 802.11b 1 Mbps, +19.5 dBm
ESP32_RX_MA = 100.0  # ESP32 datasheet: RX 802.11b/g/n (95-100 mA)
TX_MS = 1.0  # a 31-byte ESP-NOW frame at 1 Mbps with preamble: well under 1 ms
LIS2MDL_UA = 25.0  # AN5069: <= 50 uA in low-power mode at 20 Hz; at 10 Hz, half (assumed)
QMC_STANDBY_UA = 3.0  # QMC5883L datasheet: standby current
CELL_MAH = 3000.0  # 2 x AA lithium (Energizer L91 class)
GOAL_YEARS = 5.0
# The chip's running time per sample (wake to sleep, past the boot): reading the
# magnetometer over I2C, the detector's update and the RTC-memory write, in MicroPython.
# Assumed, like the boot time, until measured on a board: the virtual board's own awake time
# is its round trips to the world and follows the host's load (8 ms idle, 41 ms beside a
# test run), never the chip's work, so it is reported but not used.
RUN_MS = 10.0


@dataclass
class Measured:
    """What the virtual board did."""

    wakes: int  # deep-sleep wakes (boots)
    light_samples: int  # samples taken after a light sleep
    run_s: float  # time running (not in any sleep)
    frames: int  # radio frames sent
    reports: int  # changes reported
    moving: int = 0  # of the frames, those telling the totem of a manoeuvre overhead

    @property
    def run_ms_per_sample(self) -> float:
        return self.run_s * 1000 / max(1, self.wakes + self.light_samples)

    @property
    def frames_per_report(self) -> float:
        """Frames a reported change costs (its REPORT and retries); the MOVING frames a
        manoeuvre costs are counted per day from the duty replay (Day.moving), not here."""
        return (self.frames - self.moving) / max(1, self.reports)


@dataclass
class Day:
    """A day's activity for one bay: wakes, follow samples, changes, and the heartbeats sent
    early to ask the totem about the neighbours (Detector.wants_hint) or to tell it a vehicle
    is manoeuvring overhead (Detector.moving)."""

    wakes: float
    follow_samples: float
    changes: float
    questions: float = 0.0
    moving: float = 0.0


@dataclass
class Estimate:
    boot_ms: float
    run_ms_per_sample: float
    heartbeat_s: int
    wakes_per_day: float
    samples_per_day: float
    changes_per_day: float
    frames_per_day: float
    sleep_mah_per_day: float
    wake_mah_per_day: float
    light_sleep_mah_per_day: float
    radio_mah_per_day: float
    charge_mah_per_day: float
    years: float
    goal_years: float = GOAL_YEARS


def measure(seconds: float = 60.0) -> Measured:
    """Run one virtual LIS2MDL sensor (and a totem to ack it) for `seconds`, with a car
    arriving at a quarter of the run and leaving at two thirds."""
    from host_tools.emulator import World
    from host_tools.testing.rigs.lot import WIFI, add_bay, add_totem

    with tempfile.TemporaryDirectory() as d, \
            World(d, access_points={WIFI[0]: WIFI[1]}) as w:
        bay = add_bay(w, "ps-batt", 1, "A01", 0.0, chip="lis", heartbeat_s=3600)
        totem, _ = add_totem(w, [bay], {"A01": "A"})
        totem.start()
        time.sleep(1.0)
        bay.board.start()
        t0 = time.monotonic()
        state = 0
        while time.monotonic() - t0 < seconds:
            el = time.monotonic() - t0
            if state == 0 and el > seconds / 4:
                bay.park(True)
                state = 1
            elif state == 1 and el > 2 * seconds / 3:
                bay.park(False)
                state = 2
            time.sleep(0.2)
        b = bay.board
        out = b.output_text()
        return Measured(b.sleeps, b.light_sleeps, b.awake_so_far_s() - b.light_s, b.tx_frames,
                        out.count("seq "), out.count("field moving:"))


def day_from_traces(profile: str = "normal", days: int = 16, seed0: int = 1000) -> Day:
    """Mean activity per day of the gated duty cycle over `days` simulated days (the bench's
    unseen days; single days' follow samples vary widely, so a mean needs many of them), as
    installed: in a row whose neighbour nodes (wake on change too) the totem hears, so that
    the node's questions are answered."""
    from host_tools.parking import duty, simulate, traces

    w = f = c = q = mv = 0.0
    for k in range(days):
        row = simulate.simulate_row(profile, 24.0, seed0 + k)
        heard = traces.TotemView(simulate.neighbour_reports(row, gated=True))
        _, st = duty.replay_gated(row.centre, totem=heard)
        pd = st.per_day()
        w += pd["int_wakes"] + pd["timer_wakes"]
        f += pd["follow_samples"]
        c += pd["changes"]
        q += pd["questions"]
        mv += pd["moving"]
    return Day(w / days, f / days, c / days, q / days, mv / days)


def estimate(m: Measured, day: Day, *, heartbeat_s: int = 1800, boot_ms: float = 250.0,
             run_ms: float = RUN_MS, ack_wait_ms: float = 60.0, sample_ms: int = 1000,
             mag_ua: float = LIS2MDL_UA) -> Estimate:
    """A node's life from a day's activity; from the virtual board `m`, only its frames per
    reported change (run_ms: RUN_MS says why the board's own awake time is not used)."""
    samples = day.wakes + day.follow_samples
    frames = day.changes * m.frames_per_report + 86400 / heartbeat_s + day.questions
    wake_mas = (day.wakes * boot_ms + samples * run_ms) / 1000 * ESP32_ACTIVE_MA
    light_mas = day.follow_samples * sample_ms / 1000 * ESP32_LIGHT_SLEEP_MA
    # a MOVING frame alone waits for no answer (sensor_app): its transmission only
    radio_mas = frames * (TX_MS / 1000 * ESP32_TX_MA + ack_wait_ms / 1000 * ESP32_RX_MA) + \
        day.moving * TX_MS / 1000 * ESP32_TX_MA
    frames += day.moving
    sleep_mah = 24 * (ESP32_DEEP_SLEEP_UA + mag_ua) / 1000
    wake_mah, light_mah, radio_mah = wake_mas / 3600, light_mas / 3600, radio_mas / 3600
    total = sleep_mah + wake_mah + light_mah + radio_mah
    return Estimate(boot_ms, round(run_ms, 1), heartbeat_s, round(day.wakes, 1),
                    round(samples, 1), round(day.changes, 1), round(frames, 1),
                    round(sleep_mah, 3), round(wake_mah, 3), round(light_mah, 3),
                    round(radio_mah, 3), round(total, 3), round(CELL_MAH / total / 365, 2))


def timer_day(changes: float, sample_ms: int = 1000) -> Day:
    """A chip without a threshold interrupt: a deep-sleep wake every sample."""
    return Day(86400 * 1000 / sample_ms, 0.0, changes)


def report(seconds: float = 60.0, profile: str = "normal", days: int = 16,
           heartbeat_s: int = 1800, boot_ms: float = 250.0,
           run_ms: float = RUN_MS) -> dict[str, Any]:
    """The whole estimate as `bourg parking battery` prints it: what the virtual board did,
    the node's life with wake on change on `profile` streets, and the same arithmetic for a
    chip without a threshold interrupt, for comparison."""
    m = measure(seconds)
    day = day_from_traces(profile, days)
    e = estimate(m, day, heartbeat_s=heartbeat_s, boot_ms=boot_ms, run_ms=run_ms)
    t = estimate(m, timer_day(day.changes), heartbeat_s=heartbeat_s, boot_ms=boot_ms,
                 run_ms=run_ms, mag_ua=QMC_STANDBY_UA)
    return {"measured": {**asdict(m),
                         "emulator_ms_per_sample": round(m.run_ms_per_sample, 1),
                         "frames_per_report": round(m.frames_per_report, 2)},
            "profile": profile, "wake_on_change": asdict(e),
            "timer_1hz_for_comparison": {"years": t.years,
                                         "charge_mah_per_day": t.charge_mah_per_day}}
