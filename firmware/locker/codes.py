"""Offline one-time locker codes, layout 2. Pure; the host (issuing) and the board (checking)
run this same file, on CPython and MicroPython. See docs/locker-codes.md for the scheme, why
these lengths, and the vectors.

A code is 12 digits typed then '#':  C C X M M M M M M M M M
  CC  01-49: compartment CC (a DEPOSIT code while it is free, a PICKUP code while it holds a
      parcel); 51-99: a RETRIEVE code for compartment CC-50 (the merchant takes back an
      uncollected parcel). 00 starts a 20-digit ADMIN code: 00 TTTTTTTT M x 10, T = Unix
      minutes mod 10**8.
  X   (start day mod 5) * 2 + (seq & 1): the validity window starts at 00:00 UTC of day D
      (days since 1970) and lasts VALID_DAYS[kind]; the board finds D as the one day in
      [today - 3, today + 1] with D % 5 == X // 2.
  M   9 digits: HMAC-SHA256(bank key, "bourg-locker-2|bank|kind|compartment|D|seq bit")
      read as a big-endian integer from its first 8 bytes, mod 10**9.
Everything the MAC covers is either typed or known to the board, so the board checks exactly
one candidate. A forged code passes with probability 1e-9 per attempt, an admin code 1e-10.
"""
from bourg.auth import hmac_sha256

DEPOSIT, PICKUP, RETRIEVE, ADMIN = "deposit", "pickup", "retrieve", "admin"
KINDS = (DEPOSIT, PICKUP, RETRIEVE, ADMIN)
VALID_DAYS = {DEPOSIT: 1, PICKUP: 3, RETRIEVE: 3}
MAX_COMPARTMENT = 49
LAYOUT = "bourg-locker-2|"  # the MAC's domain: a layout-1 code (10 digits) never opens
MAC_DIGITS = 9
ADMIN_MAC_DIGITS = 10
ADMIN_SKEW_S = 900  # an admin code's time may be this far from the board's clock
CODE_LEN = 12
ADMIN_LEN = 20
DAY = 86400
# A used code stays in the ledger this long after its window has ended, so that an admin code
# may bring a clock that jumped ahead back by as much without a used code opening again.
LEDGER_GRACE_S = DAY
# Live ledger entries per compartment, at most: a deposit code's window is 1 day, a pickup or
# retrieve code's 3, each kept 1 day more, with 2 sequence bits (docs/locker-codes.md).
ENTRIES_PER_COMPARTMENT = 2 * ((1 + 1) + (3 + 1) + (3 + 1))


class CodeError(ValueError):
    pass


def _mac(key, text, digits):
    d = hmac_sha256(key, text.encode())
    n = 0
    for i in range(8):
        n = (n << 8) | d[i]
    s = str(n % (10 ** digits))
    return "0" * (digits - len(s)) + s


def _msg(bank, kind, comp, day, sbit):
    return LAYOUT + bank + "|" + kind + "|" + str(comp) + "|" + str(day) + "|" + str(sbit)


def issue(key, bank, compartment, kind, start_s, seq):
    """The digits of a code (without '#') for a window starting on start_s's UTC day."""
    if kind not in VALID_DAYS:
        raise CodeError("kind must be deposit, pickup or retrieve")
    if not 1 <= compartment <= MAX_COMPARTMENT:
        raise CodeError("compartment must be 1..%d" % MAX_COMPARTMENT)
    if len(key) < 16:
        raise CodeError("bank key must be at least 128 bits")
    day = int(start_s) // DAY
    sbit = seq & 1
    cc = compartment + (50 if kind == RETRIEVE else 0)
    head = ("0" if cc < 10 else "") + str(cc) + str((day % 5) * 2 + sbit)
    return head + _mac(key, _msg(bank, kind, compartment, day, sbit), MAC_DIGITS)


def window(kind, start_s):
    day = int(start_s) // DAY
    return day * DAY, (day + VALID_DAYS[kind]) * DAY


def issue_admin(key, bank, at_s):
    t = (int(at_s) // 60) % 10 ** 8
    ts = str(t)
    ts = "0" * (8 - len(ts)) + ts
    return "00" + ts + _mac(key, LAYOUT + bank + "|admin|" + ts, ADMIN_MAC_DIGITS)


def parse(digits):
    """('code', cc, x, mac) or ('admin', minutes, mac); CodeError for anything else."""
    if not isinstance(digits, str):
        raise CodeError("not text")
    for c in digits:
        if c < "0" or c > "9":
            raise CodeError("digits only")
    if len(digits) == ADMIN_LEN and digits[:2] == "00":
        return ("admin", int(digits[2:10]), digits[10:])
    if len(digits) != CODE_LEN:
        raise CodeError("a code has %d digits" % CODE_LEN)
    cc = int(digits[:2])
    if cc == 0 or cc == 50 or cc > 50 + MAX_COMPARTMENT or MAX_COMPARTMENT < cc < 50:
        raise CodeError("no such compartment")
    return ("code", cc, int(digits[2]), digits[3:])


def candidate(parsed, armed_of, today):
    """The one (kind, compartment, day, seq bit) a typed code can mean, given which
    compartments hold a parcel (armed_of(c) -> bool) and the board's UTC day."""
    _t, cc, x, _m = parsed
    sbit = x & 1
    day = today - 3
    while day % 5 != x // 2:
        day += 1
    if cc > 50:
        comp = cc - 50
        return (RETRIEVE if armed_of(comp) else None), comp, day, sbit
    return (PICKUP if armed_of(cc) else DEPOSIT), cc, day, sbit


class Result:
    __slots__ = ("ok", "kind", "compartment", "reason", "entry", "time_s")

    def __init__(self, ok, reason, kind=None, compartment=None, entry=None, time_s=None):
        self.ok = ok
        self.reason = reason
        self.kind = kind
        self.compartment = compartment
        self.entry = entry  # what to record in the ledger once the door has been opened
        self.time_s = time_s  # an admin code's time (sets a lost clock)

    def __repr__(self):
        return "Result(%r, %r, %r, %r)" % (self.ok, self.reason, self.kind, self.compartment)


def check(key, bank, digits, now_s, ledger, armed_of, clock_ok=True, last_admin_min=-1,
          rtc_s=None):
    """Decide on a typed code. Never raises. now_s is the bank's time for windows (it never
    goes back: bank.py); rtc_s the clock's own reading, which an admin code must be within
    ADMIN_SKEW_S of while the clock is trusted (default now_s). Reasons when refused:
    malformed, bad_code, expired, not_yet_valid, used, clock_lost, not_armed, not_free (a
    deposit code for a compartment holding a parcel), stale (an admin code not newer than
    the last one used)."""
    try:
        p = parse(digits)
    except CodeError as e:
        return Result(False, "malformed: " + str(e))
    if p[0] == "admin":
        ts = str(p[1])
        ts = "0" * (8 - len(ts)) + ts
        want = _mac(key, LAYOUT + bank + "|admin|" + ts, ADMIN_MAC_DIGITS)
        if not _eq(want, p[2]):
            return Result(False, "bad_code")
        if p[1] <= last_admin_min:
            return Result(False, "stale", ADMIN)
        t_s = p[1] * 60
        if clock_ok and abs(t_s - (now_s if rtc_s is None else rtc_s)) > ADMIN_SKEW_S:
            return Result(False, "expired", ADMIN)
        return Result(True, "ok", ADMIN, entry=p[1], time_s=t_s)
    if not clock_ok:
        return Result(False, "clock_lost")
    kind, comp, day, sbit = candidate(p, armed_of, int(now_s) // DAY)
    if kind is None:
        return Result(False, "not_armed", RETRIEVE, comp)
    if not _eq(_mac(key, _msg(bank, kind, comp, day, sbit), MAC_DIGITS), p[3]):
        # a genuine code from five days earlier maps to the same digit: say "expired" rather
        # than "bad code" (this can only refuse, never open)
        if _eq(_mac(key, _msg(bank, kind, comp, day - 5, sbit), MAC_DIGITS), p[3]):
            return Result(False, "expired", kind, comp)
        if kind == DEPOSIT and _eq(_mac(key, _msg(bank, PICKUP, comp, day, sbit),
                                        MAC_DIGITS), p[3]):
            # a pickup code typed again after the parcel was taken (the compartment is free
            # now): say so rather than "bad code"
            used = ledger.used(entry_key(KINDS.index(PICKUP), p[1], day, sbit))
            return Result(False, "used" if used else "not_armed", PICKUP, comp)
        if kind == PICKUP and _eq(_mac(key, _msg(bank, DEPOSIT, comp, day, sbit),
                                       MAC_DIGITS), p[3]):
            # a deposit code typed again once the parcel is in: not a guess either
            used = ledger.used(entry_key(KINDS.index(DEPOSIT), p[1], day, sbit))
            return Result(False, "used" if used else "not_free", DEPOSIT, comp)
        return Result(False, "bad_code")
    start, end = day * DAY, (day + VALID_DAYS[kind]) * DAY
    if now_s < start:
        return Result(False, "not_yet_valid", kind, comp)
    if now_s >= end:
        return Result(False, "expired", kind, comp)
    entry = entry_key(KINDS.index(kind), p[1], day, sbit)
    if ledger.used(entry):
        return Result(False, "used", kind, comp)
    return Result(True, "ok", kind, comp, entry=entry)


def _eq(a, b):
    if len(a) != len(b):
        return False
    r = 0
    for i in range(len(a)):
        r |= ord(a[i]) ^ ord(b[i])
    return r == 0


def entry_key(kind_index, cc, day, sbit):
    """One small int for a used code: kind, typed compartment (01-99), start day, seq bit."""
    return ((kind_index * 100 + cc) * 100000 + day) * 2 + sbit


def entry_end(entry):
    """The end of that code's window (s): what the ledger needs to know when to forget it."""
    day = (entry >> 1) % 100000
    kind = KINDS[(entry >> 1) // 100000 // 100]
    return (day + VALID_DAYS[kind]) * DAY


class Ledger:
    """Codes already used, each kept until its window has ended by the bank's time (then the
    code is refused as expired for ever: bank.py's clock never goes back). Bounded by the
    bank's size (ENTRIES_PER_COMPARTMENT each), which normal traffic cannot exceed: add()
    refuses rather than forget a live entry. Serialised with a CRC by the app (bourg.store)."""

    def __init__(self, max_entries=128, entries=None):
        self.max_entries = max_entries
        self.entries = []
        for e in entries or ():
            if isinstance(e, int):  # layout-1 entries (lists) name codes no longer typed
                self.entries.append(e)

    def used(self, entry):
        return entry in self.entries

    def full(self):
        return len(self.entries) >= self.max_entries

    def prune(self, now_s):
        """Forget the entries whose window has ended at now_s."""
        self.entries = [e for e in self.entries if entry_end(e) > now_s]

    def add(self, entry):
        if self.full():
            raise CodeError("ledger full")
        self.entries.append(entry)

    def to_list(self):
        return list(self.entries)
