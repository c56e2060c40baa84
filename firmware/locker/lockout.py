"""Guess limiting for a locker bank's keypad, and the keypad entry buffer. Pure; runs on
MicroPython and CPython. The parameters are what `make bench` uses for the attack figures.

Why no hard lock: a bank that locks itself after N failures is shut by a vandal in a minute
of typing, and then a customer with a genuine code waits for a technician. Instead every
code that reaches the MAC (customer, merchant and admin alike) passes one bank-wide limiter:
FREE_FAILURES wrong codes cost nothing (a customer who mistypes twice still gets in), then
each attempt waits BASE_DELAY_S, doubling up to MAX_DELAY_S, after the last failure. The cap
bounds both sides: a customer behind a vandal waits at most MAX_DELAY_S, and a guesser gets
at most one attempt per MAX_DELAY_S, which the codes' 9 MAC digits turn into the 30-day goal
(docs/locker-codes.md). One failure is forgiven per FORGIVE_S without failures. An accepted
code does not clear the count: an insider's own code must not buy him guesses. ALARM_FAILURES
unforgiven failures raise the `guessing` alarm; an admin code clears it and the count.

The bank runs it on its uptime, not on its clock: a clock that is lost (stuck at 0 until an
admin code sets it) or stepped would freeze the wait or skip it, and the admin code that
recovers the clock must itself get through. The count survives a reboot; the time of the
last failure does not (another boot's uptime), so the wait and the forgiveness start again
at boot (`restart`): a power cut never shortens them.
"""
FREE_FAILURES = 3
BASE_DELAY_S = 30
MAX_DELAY_S = 60
FORGIVE_S = 7200
ALARM_FAILURES = 10


class Lockout:
    def __init__(self, state=None):
        self.failures = 0
        self.last_fail_s = None
        if state:
            self.failures, self.last_fail_s = state[0], state[1]

    def restart(self, now_s):
        """A boot: count the last failure from now (its time was on the last boot's uptime,
        or on the clock, as firmware before the uptime saved it). With no failure left,
        forget it: a stale time ahead of the new uptime would read as a wait."""
        self.last_fail_s = now_s if self.failures else None

    def _forgive(self, now_s):
        if self.last_fail_s is None or self.failures == 0:
            return
        if now_s < self.last_fail_s:  # the clock moved back: the wait starts again from now
            self.last_fail_s = now_s
        n = int((now_s - self.last_fail_s) // FORGIVE_S)
        if n > 0:
            self.failures = max(0, self.failures - n)
            self.last_fail_s += n * FORGIVE_S

    def delay_s(self):
        """Wait required after the last failure before the next attempt."""
        if self.failures < FREE_FAILURES:
            return 0
        d = BASE_DELAY_S << min(self.failures - FREE_FAILURES, 8)
        return d if d < MAX_DELAY_S else MAX_DELAY_S

    def may_try(self, now_s):
        """None if a code may be checked now, else why not ("wait N")."""
        self._forgive(now_s)
        if self.last_fail_s is not None and self.failures:
            left = self.last_fail_s + self.delay_s() - now_s
            if left > 0:
                return "wait " + str(int(left + 0.999))
        return None

    def failed(self, now_s):
        """Count a wrong code; True when this failure reaches ALARM_FAILURES (alarm)."""
        self._forgive(now_s)
        self.failures += 1
        self.last_fail_s = now_s
        return self.failures == ALARM_FAILURES

    def alarming(self):
        return self.failures >= ALARM_FAILURES

    def reset(self):
        """An admin code: the technician or merchant has looked."""
        self.failures = 0
        self.last_fail_s = None

    def state(self):
        return [self.failures, self.last_fail_s]


def attempts_in(seconds, pace_s=0, resets_every_s=None):
    """How many codes a keypad attacker can check in `seconds` under this policy: he types an
    attempt as soon as the bank takes one, but never sooner than pace_s after his last (0:
    non-stop), and an admin code resets the count every resets_every_s (None: never)."""
    n = 0
    t = 0
    lk = Lockout()
    next_reset = resets_every_s
    while t < seconds:
        if next_reset is not None and t >= next_reset:
            lk.reset()
            next_reset += resets_every_s
        why = lk.may_try(t)
        if why is None:
            n += 1
            lk.failed(t)
            t += pace_s
        else:
            t += int(why.split()[1])
    return n


def strongest_attacker(seconds, resets_every_s=None):
    """(attempts, pace_s) of the pace that checks the most codes in `seconds`: non-stop, or
    paced to earn forgiveness and the free failures back."""
    best = (0, 0)
    for pace in (0, 1, 30, 59, 60, 61, 90, 120, 600, 1800, 3600, FORGIVE_S // 3,
                 FORGIVE_S // 2, FORGIVE_S, FORGIVE_S + 1):
        n = attempts_in(seconds, pace, resets_every_s)
        if n > best[0]:
            best = (n, pace)
    return best


class Entry:
    """The keypad buffer: digits until '#'; '*' clears; any other key (A-D on a 4x4 keypad)
    clears too; an entry idle for timeout_ms or longer than max_len is dropped (no sliding
    window: a code only counts when it is typed whole and confirmed with '#')."""

    def __init__(self, max_len=20, timeout_ms=10000):
        self.max_len = max_len
        self.timeout_ms = timeout_ms
        self.buf = ""
        self.last_ms = None
        self.overflow = False

    def _clear(self):
        self.buf = ""
        self.overflow = False

    def expire(self, now_ms):
        """Drop an entry idle for timeout_ms (the app asks every second, so a half-typed code
        does not wait for the next customer's first key); True if one was dropped."""
        if self.buf and self.last_ms is not None and now_ms - self.last_ms >= self.timeout_ms:
            self._clear()
            return True
        return False

    def key(self, k, now_ms):
        """Feed one key; returns ("code", digits), ("cleared", why) or None."""
        out = ("cleared", "timeout") if self.expire(now_ms) else None
        self.last_ms = now_ms
        if k == "*":
            self._clear()
            return ("cleared", "star")
        if k == "#":
            code, over = self.buf, self.overflow
            self._clear()
            if over:
                return ("cleared", "too_long")
            return ("code", code)
        if k in "0123456789":
            if len(self.buf) >= self.max_len:
                self.overflow = True
            else:
                self.buf += k
            return out
        self._clear()
        return ("cleared", "bad_key")
