"""Wake on change: when a parking node may stop sampling at 1 Hz and sleep until its
magnetometer's threshold interrupt says the field moved. Pure; runs on MicroPython and CPython
(the board's sensor_app and the host's gated replay use the same rules).

Why: waking MicroPython from deep sleep once a second costs far more than the whole rest of
the node (see docs/parking.md, battery). A chip with a threshold interrupt on the
offset-corrected field (LIS2MDL: hard-iron offset registers + INT_THS, INT_on_DataOFF) keeps
watching at 10 Hz for ~25 µA while the ESP32 sleeps at ~10 µA. The node programs the offset to
the field it last saw settled, so the interrupt fires when any axis moves more than wake_ut
from there: a vehicle arriving or leaving, a neighbour, passing traffic, drift. It then
follows at 1 Hz (light sleep between samples) until the detector has nothing pending and the
field is calm again, and re-arms. A timer wake every checkin_s (the heartbeat) gives the
detector a sample to track slow drift and the totem its sign of life.

wake_ut must stay above the chip's noise (6 sigma of ~0.3 µT per axis at 10 Hz gives less
than one false wake a day) and below the weakest vehicle's largest axis (a 2.2 µT signature
has an axis of at least 1.27 µT; typical weak cars move Z by 2 µT or more).
"""

from detector import merge_params

DEFAULTS = {
    # per-axis change from the armed field that wakes the node, µT
    "wake_ut": 1.5,
    # samples the field must stay calm (detector's calm count) before re-arming
    "calm_n": 3,
    # timer wake while armed (drift tracking and the heartbeat), s
    "checkin_s": 1800,
    # a follow phase never lasts longer than this (a field that never calms), s
    "follow_max_s": 900,
    # while empty, keep following when the detector's score is this close to switching
    # (a weak vehicle hovering at the threshold: 1 Hz gives it the chances it had ungated);
    # 0 = never. Measured: +100 samples a day on the hard profile, and its weak cars back
    "near": 0.7,
    # s after an arrival before re-arming while occupied: the detector goes on taking the
    # signature from the field until its own settle_s (30 s), but a field calm with the
    # parked reference caught up 15 s after the arrival is the settled vehicle (a car that
    # moves again later trips the chip). Measured on the design days: 220 fewer follow
    # samples a day, the same changes and false changes (docs/parking.md, battery)
    "settle_s": 15,
}


# What sleeping behind the threshold changes in the detector's defaults (a config's
# app.detector still wins). When a car wakes the node, its baseline has not followed the drift
# of the sleep (up to checkin_s), so a weak car reads 0.3-0.6 µT lower than at 1 Hz: the node
# asks the totem about disturbances from 1.8 µT rather than 1.95. Chosen on the design days
# (docs/parking.md, "The totem's word").
DETECTOR = {"hint_ut": 1.8}


def params(overrides=None):
    return merge_params(DEFAULTS, overrides, "gate")


def detector_params(overrides=None):
    """The detector parameters of a node on this duty cycle: DETECTOR, then overrides."""
    p = dict(DETECTOR)
    if overrides:
        p.update(overrides)
    return p


def settled(det, calm_n, settle_s):
    """Nothing pending: the median window is full, no change of state is being counted, the
    field has been calm for calm_n samples, and while occupied the vehicle has had settle_s
    to settle and the parked reference has caught up with the field."""
    if det.n < 5 or det.count:
        return False
    if det.calm < calm_n:
        return False
    if det.occupied:
        if det.age < settle_s:
            return False
        # the parked reference still following a step (a neighbour came or went): a stale
        # reference makes the first check-in see that step as the vehicle leaving
        o, f = det.occ_ref, det.prev
        if abs(f[0] - o[0]) + abs(f[1] - o[1]) + abs(f[2] - o[2]) > det.p["calm_ut"]:
            return False
    return True


def may_arm(det, g, followed):
    """Re-arm (and deep-sleep) now? ``followed`` counts the 1 Hz samples taken since the node
    woke, by the interrupt or the check-in timer (None: no such rule). After a sleep the
    median window still holds the samples from before it, so at least calm_n fresh samples
    must pass through it before its verdict means anything: a check-in that re-armed on one
    sample saw a car too weak to trip the chip only three check-ins later."""
    if followed is not None and followed < g["calm_n"]:
        return False
    if g["near"] and not det.occupied and det.score >= g["near"]:
        return False
    if det.hint_pending:
        return False  # asleep, it would ask about this disturbance only at the check-in
    return settled(det, g["calm_n"], g["settle_s"])


def tripped(ref, bx, by, bz, wake_ut):
    """The chip's rule: some axis of (field - programmed offset) beyond the threshold."""
    return abs(bx - ref[0]) > wake_ut or abs(by - ref[1]) > wake_ut or \
        abs(bz - ref[2]) > wake_ut


def next_wake_s(now_s, armed_at_s, checkin_s, outbox_due_s=None):
    """Seconds to sleep while armed: to the next check-in, or sooner for a report retry."""
    t = armed_at_s + checkin_s
    if outbox_due_s is not None and outbox_due_s < t:
        t = outbox_due_s
    d = t - now_s
    return 1 if d < 1 else d
