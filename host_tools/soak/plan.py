"""What happens in the soaked town, when: a pure function of the run's length and its seed, so
that the same seed replays the same run (and a failure can be run again).

A plan is a sorted list of `Action`s on the run's clock (seconds from its start):
- `walker`: someone passes pole `target` (its presence sensor sees them for `s` seconds);
- `deposit`, then `pickup`: a shop puts a parcel in compartment `target`, and later the
  customer takes it out, each with a code issued on the host and typed on the keypad;
- `broker_down`: the broker dies (SIGKILL) for `s` seconds;
- `wifi_down`: board `target` loses WiFi for `s` seconds;
- `power_cut`: board `target` loses power, and is switched on again `s` seconds later;
- `ntp_lie`: the town's NTP server answers its next question `s` seconds off the truth.

The runner plays the actions one after the other: an action whose time has passed while an
outage was played starts at once.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

KINDS = ("walker", "deposit", "pickup", "broker_down", "wifi_down", "power_cut", "ntp_lie")


@dataclass(frozen=True, order=True)
class Action:
    t: float
    kind: str
    target: str = ""
    s: float = 0.0


def make_plan(hours: float, seed: int, poles: list[str], compartments: list[int],
              boards: list[str]) -> list[Action]:
    """Walkers every 20 minutes or so at each pole, a parcel every two hours or so (picked up
    10 minutes to 3 hours later), and, from the second hour on, one broker outage, one WiFi
    loss and one power cut per six hours, and one NTP answer 1 to 12 hours off, early or
    late, at least an hour before the end (every board asks hourly). Nothing starts in the
    last ten minutes, so that every action has ended at the end."""
    if hours <= 0:
        raise ValueError("hours must be > 0")
    rng = random.Random(seed)
    end = hours * 3600 - 600
    plan: list[Action] = []
    for pole in poles:
        t = rng.uniform(60, 1200)
        while t < end:
            plan.append(Action(round(t, 1), "walker", pole, round(rng.uniform(3, 12), 1)))
            t += rng.expovariate(1 / 1200)
    busy: dict[int, float] = {}
    deposits: dict[int, list[float]] = {c: [] for c in compartments}
    t = rng.uniform(300, 1800)
    while t < end:
        # a bank has two deposit codes per compartment a day (docs/locker-codes.md): at most
        # two deposits in any 24 hours keeps to it whatever the hour of midnight
        free = [c for c in compartments if busy.get(c, 0) < t
                and len([d for d in deposits[c] if t - d < 86400]) < 2]
        if free:
            c = rng.choice(free)
            back = min(end, t + rng.uniform(600, 3 * 3600))
            deposits[c].append(t)
            plan.append(Action(round(t, 1), "deposit", str(c)))
            plan.append(Action(round(back, 1), "pickup", str(c)))
            busy[c] = back + 600
        t += rng.expovariate(1 / 7200)
    for block in range(int(hours // 6) + 1):
        start = 3600 + block * 6 * 3600
        if start + 2400 >= end:
            break
        plan.append(Action(round(start + rng.uniform(0, 1800), 1), "broker_down", "",
                           round(rng.uniform(60, 600), 1)))
        plan.append(Action(round(start + rng.uniform(0, 1800), 1), "wifi_down",
                           rng.choice(boards), round(rng.uniform(30, 300), 1)))
        plan.append(Action(round(start + rng.uniform(0, 1800), 1), "power_cut",
                           rng.choice(boards), round(rng.uniform(5, 120), 1)))
    if end - 3600 > 3600:  # drawn last: a seed's other actions stay as they were
        plan.append(Action(round(rng.uniform(3600, end - 3600), 1), "ntp_lie", "",
                           rng.choice((-1, 1)) * round(rng.uniform(3600, 12 * 3600))))
    return sorted(plan)
