"""The sensor node's duty cycle replayed on a trace: which samples the board would take when
it sleeps behind its magnetometer's wake-on-change interrupt (firmware gate.py), what the
detector decides from only those, and how often the node wakes.

The trace is the field at 1 Hz; the chip watches it at 10 Hz, so a spike shorter than a
second that the chip would see is missing here, and the trace's single-sample read glitches
(an I2C artefact the chip's interrupt engine never sees) count as wakes here. Both are small
next to traffic (docs/parking.md, Limits).
"""

from __future__ import annotations

from dataclasses import dataclass

from host_tools.parking import fw
from host_tools.parking.traces import TotemView, Trace


@dataclass
class DutyStats:
    days: float
    int_wakes: int  # deep-sleep wakes by the interrupt (a change seen by the chip)
    timer_wakes: int  # deep-sleep wakes by the check-in timer
    follow_samples: int  # 1 Hz samples taken in light sleep after a wake
    changes: int  # state changes reported (each sends a REPORT)
    questions: int = 0  # frames sent to ask the totem about the neighbours (wants_hint)
    moving: int = 0  # frames telling the totem a vehicle is manoeuvring overhead (moving)

    def per_day(self) -> dict[str, float]:
        d = self.days or 1.0
        return {"int_wakes": self.int_wakes / d, "timer_wakes": self.timer_wakes / d,
                "follow_samples": self.follow_samples / d, "changes": self.changes / d,
                "questions": self.questions / d, "moving": self.moving / d}


def replay_gated(tr: Trace, params: dict[str, float] | None = None,
                 gate_params: dict[str, float] | None = None,
                 totem: TotemView | None = None,
                 told: list[float] | None = None) -> tuple[list[int], DutyStats]:
    """Predictions for every trace second (the state the board holds) and the wake counts;
    with ``totem``, the node's questions about its neighbours are answered from it. ``told``
    collects the time of every sample after which the node tells the totem something its
    neighbours' questions are answered from: a change, or its field moving."""
    gate = fw.load("gate")
    det = fw.load("detector").Detector(gate.detector_params(params))
    g = gate.params(gate_params)
    wake_ut, checkin, fmax = g["wake_ut"], g["checkin_s"], g["follow_max_s"]
    out: list[int] = []
    armed = False
    ref = (0.0, 0.0, 0.0)
    armed_at = last_t = follow_t0 = 0.0
    occ = False
    followed = 0
    n_int = n_timer = n_follow = n_chg = n_ask = n_move = 0
    for t, bx, by, bz, temp in tr.samples():
        if armed:
            if gate.tripped(ref, bx, by, bz, wake_ut):
                n_int += 1
            elif t - armed_at >= checkin:
                n_timer += 1
            else:
                out.append(1 if occ else 0)
                continue
            armed = False  # woken: follow at 1 Hz until the gate lets it sleep again
            follow_t0, followed = t, 0
            gap = int(t - last_t) if t > last_t else 1
        else:
            n_follow += 1
            followed += 1
            gap = 1
        now = det.update(t, bx, by, bz, temp, gap)
        last_t = t
        if told is not None and (now != occ or det.moving):
            told.append(t)
        if now != occ:
            n_chg += 1
            occ = now
        out.append(1 if occ else 0)
        if det.wants_hint:  # a totem that knows no neighbours answers without a hint
            n_ask += 1
            det.neighbour_hint(totem.age(t) if totem is not None else None)
        elif det.moving:  # one frame carries both
            n_move += 1
        if gate.may_arm(det, g, followed) or t - follow_t0 >= fmax:
            armed, armed_at = True, t
            ref = tuple(det.prev)
    days = (tr.t[-1] - tr.t[0] + 1) / 86400.0 if tr.t else 0.0
    return out, DutyStats(days, n_int, n_timer, n_follow, n_chg, n_ask, n_move)
