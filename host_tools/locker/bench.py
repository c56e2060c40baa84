"""Locker bench: the chance that a keypad attacker opens any compartment in 30 days, and how
long a customer waits behind a vandal, under the firmware's own parameters and code
(codes.py, lockout.py, bank.py).

Every attempt that reaches the MAC names one compartment, day and sequence bit, so it can
match at most one code: it succeeds with probability 10^-MAC_DIGITS (10^-ADMIN_MAC_DIGITS for
a forged admin code), however many codes are live. P(any success) <= the sum over attempts.
"""

from __future__ import annotations

import json
import random
from typing import Any

from host_tools.locker.fw import load

DAY = 86400
KEY = bytes(range(32))


def _row(attacker: str, days: int, attempts: int, admin_attempts: int = 0,
         **extra: Any) -> dict[str, Any]:
    codes = load("codes")
    p = attempts * 10.0 ** -codes.MAC_DIGITS + admin_attempts * 10.0 ** -codes.ADMIN_MAC_DIGITS
    row = {"bench": "locker_keypad_attack", "attacker": attacker, "days": days,
           "attempts": attempts + admin_attempts, "p_open_any": float(f"{p:.3g}"),
           "goal": 1e-4, "goal_met": p <= 1e-4, "mac_digits": codes.MAC_DIGITS}
    row.update(extra)
    return row


def combined_attack(days: int = 30, deposits_a_day: int = 24, seed: int = 1) -> dict[str, int]:
    """All the attackers of docs/locker-codes.md at once, on the bank's own core: a guesser
    typing customer-format and forged admin codes as fast as the bank takes them, an insider
    who types his genuine deposit code whenever he is told to wait (it lapses unopened and
    works again), merchants depositing `deposits_a_day` parcels, and an admin code every
    day. Returns the attempts that reached a MAC, by kind, and the longest wait imposed."""
    codes, bank = load("codes"), load("bank")
    comps = {n: {"max_c": None, "max_s": 0} for n in range(1, 25)}
    t = 20000 * DAY
    b = bank.Bank(KEY, "bench", comps)
    b.boot(dict.fromkeys(comps, False), t, True)
    rng = random.Random(seed)
    guesses = admin_guesses = longest_wait = 0
    deposit_at = {i * DAY // deposits_a_day: (i % 24) + 1 for i in range(deposits_a_day)}
    insider = codes.issue(KEY, "bench", 24, "deposit", t, 0)
    end = t + days * DAY
    day = None
    while t < end:
        b.set_clock(t, True)
        if t // DAY != day:
            day = t // DAY
            b.code(codes.issue_admin(KEY, "bench", t))
            insider = codes.issue(KEY, "bench", 24, "deposit", t, 0)
        n = deposit_at.get(t % DAY)
        if n is not None and b.c[n]["state"] == bank.FREE:
            b.code(codes.issue(KEY, "bench", n, "deposit", t, day & 1))
        if rng.random() < 0.1:
            admin_guess = True
            digits = "00" + str(t // 60 % 10**8).zfill(8) + str(rng.randrange(10**10)).zfill(10)
        else:
            admin_guess = False
            x = (t // DAY % 5) * 2 + rng.randrange(2)
            digits = str(rng.randrange(1, 24)).zfill(2) + str(x) + \
                str(rng.randrange(10**9)).zfill(9)
        r = b.code(digits)
        if r == "bad_code":
            if admin_guess:
                admin_guesses += 1
            else:
                guesses += 1
            t += 1
        elif r.startswith("wait"):
            wait = int(r.split()[1])
            longest_wait = max(longest_wait, wait)
            b.code(insider)
            t += wait
        else:
            t += 1
        b.tick(t)
        b.take_actions()
    return {"guesses": guesses, "admin_guesses": admin_guesses, "longest_wait_s": longest_wait}


def run(days: int = 30) -> list[dict[str, Any]]:
    lockout = load("lockout")
    s = days * DAY
    out = [_row("non-stop", days, lockout.attempts_in(s))]
    n, pace = lockout.strongest_attacker(s)
    out.append(_row("paced", days, n, best_pace_s=pace))
    n, pace = lockout.strongest_attacker(s, resets_every_s=DAY)
    out.append(_row("daily_admin_reset", days, n, best_pace_s=pace))
    c = combined_attack(days)
    out.append(_row("all_at_once", days, c["guesses"], c["admin_guesses"],
                    with_=["an insider's merchant code", "24 merchant deposits a day",
                           "an admin reset every day", "forged admin codes"],
                    longest_customer_wait_s=c["longest_wait_s"]))
    return out


if __name__ == "__main__":
    for r in run():
        print(json.dumps(r))
