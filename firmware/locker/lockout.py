"""Guess limiting for a locker bank's keypad, and the keypad entry buffer. Pure; runs on
MicroPython and CPython. The parameters are what `make bench` uses for the attack figure.

Failures are counted per bank. FREE_FAILURES wrong codes cost nothing (a customer who mistypes
twice still gets in on the third try); after that each attempt must wait a delay that doubles
from BASE_DELAY_S up to MAX_DELAY_S. One failure is forgiven per FORGIVE_S without failures.
At HARD_CAP failures the bank refuses every 10-digit code until an admin code resets it
(the merchant asks for one), and raises an alarm.
"""
FREE_FAILURES = 3
BASE_DELAY_S = 30
MAX_DELAY_S = 3600
FORGIVE_S = 7200
HARD_CAP = 15


class Lockout:
    def __init__(self, state=None):
        self.failures = 0
        self.last_fail_s = None
        self.locked = False
        if state:
            self.failures, self.last_fail_s, self.locked = state[0], state[1], bool(state[2])

    def _forgive(self, now_s):
        if self.locked or self.last_fail_s is None or self.failures == 0:
            return
        n = int((now_s - self.last_fail_s) // FORGIVE_S)
        if n > 0:
            self.failures = max(0, self.failures - n)
            self.last_fail_s += n * FORGIVE_S

    def delay_s(self):
        """Wait required after the last failure before the next attempt."""
        if self.failures < FREE_FAILURES:
            return 0
        d = BASE_DELAY_S << (self.failures - FREE_FAILURES)
        return d if d < MAX_DELAY_S else MAX_DELAY_S

    def may_try(self, now_s):
        """None if a customer code may be checked now, else why not ("locked" or "wait N")."""
        self._forgive(now_s)
        if self.locked:
            return "locked"
        if self.last_fail_s is not None:
            left = self.last_fail_s + self.delay_s() - now_s
            if left > 0:
                return "wait " + str(int(left + 0.999))
        return None

    def failed(self, now_s):
        """Count a wrong code; returns True when this failure locks the bank (alarm)."""
        self._forgive(now_s)
        self.failures += 1
        self.last_fail_s = now_s
        if self.failures >= HARD_CAP and not self.locked:
            self.locked = True
            return True
        return False

    def reset(self):
        """A merchant or admin code: the bank is open to customers again."""
        self.failures = 0
        self.last_fail_s = None
        self.locked = False

    def state(self):
        return [self.failures, self.last_fail_s, 1 if self.locked else 0]


def attempts_in(seconds, resets_every_s=86400):
    """How many codes a keypad attacker can check in `seconds` under this policy, typing
    without pause and assuming the worst: every lockout is reset (by a merchant who does not
    look further) `resets_every_s` after it happened."""
    n = 0
    t = 0.0
    lk = Lockout()
    while t < seconds:
        why = lk.may_try(t)
        if why is None:
            n += 1
            lk.failed(t)
            continue
        if why == "locked":
            t = (t // resets_every_s + 1) * resets_every_s
            lk.reset()
            continue
        t += int(why.split()[1])
    return n


class Entry:
    """The keypad buffer: digits until '#'; '*' clears; an entry idle for timeout_ms or longer
    than max_len is dropped (no sliding window: a code only counts when it is typed whole and
    confirmed with '#')."""

    def __init__(self, max_len=16, timeout_ms=10000):
        self.max_len = max_len
        self.timeout_ms = timeout_ms
        self.buf = ""
        self.last_ms = None
        self.overflow = False

    def key(self, k, now_ms):
        """Feed one key; returns ("code", digits), ("cleared", why) or None."""
        out = None
        if self.buf and self.last_ms is not None and now_ms - self.last_ms >= self.timeout_ms:
            self.buf = ""
            self.overflow = False
            out = ("cleared", "timeout")
        self.last_ms = now_ms
        if k == "*":
            self.buf = ""
            self.overflow = False
            return ("cleared", "star")
        if k == "#":
            code, over = self.buf, self.overflow
            self.buf = ""
            self.overflow = False
            if over:
                return ("cleared", "too_long")
            return ("code", code)
        if k in "0123456789":
            if len(self.buf) >= self.max_len:
                self.overflow = True
            else:
                self.buf += k
            return out
        return ("cleared", "bad_key")
