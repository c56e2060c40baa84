"""Locker bench: the chance that a keypad attacker typing without pause opens any compartment
in 30 days, under the firmware's own parameters (codes.py, lockout.py)."""

from __future__ import annotations

import json
from typing import Any

from .fw import load


def run(days: int = 30) -> list[dict[str, Any]]:
    codes, lockout = load("codes"), load("lockout")
    out = []
    for label, resets in (("no_reset", 10**12), ("daily_reset", 86400),
                          ("hourly_reset", 3600)):
        n = lockout.attempts_in(days * 86400, resets)
        # each attempt names one compartment, day and seq bit, so it can match at most one
        # live code; an attacker who guesses those right still needs the 7-digit MAC
        p_attempt = 10.0 ** -codes.MAC_DIGITS
        p_any = 1 - (1 - p_attempt) ** n
        out.append({"bench": "locker_keypad_attack", "days": days, "lockout_reset": label,
                    "attempts": n, "p_open_any": float(f"{p_any:.3g}"), "goal": 1e-4,
                    "goal_met": p_any <= 1e-4, "free_failures": lockout.FREE_FAILURES,
                    "hard_cap": lockout.HARD_CAP, "mac_digits": codes.MAC_DIGITS})
    return out


if __name__ == "__main__":
    for r in run():
        print(json.dumps(r))
