"""Locker codes and the keypad guess limits (firmware/locker/codes.py, lockout.py): test
vectors (also in docs/locker-codes.md), one-time use, windows, clock loss, lockout, entry
buffer; the same vectors on the real MicroPython VM."""

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from host_tools.locker import fw

codes = fw.load("codes")
lockout = fw.load("lockout")
KEY = bytes(range(32))
T = 1795339800  # 2026-11-22T09:30:00Z
VECTORS = [(1, "deposit", 0, "018366861117"), (3, "pickup", 7, "039850255541"),
           (3, "retrieve", 8, "538114375751"), (49, "pickup", 1, "499758895053")]
ADMIN_VECTOR = "00299223300204752034"
MICROPYTHON = Path(sys.executable).parent / "micropython"


def test_vectors():
    for comp, kind, seq, want in VECTORS:
        assert codes.issue(KEY, "bank-1", comp, kind, T, seq) == want
    assert codes.issue_admin(KEY, "bank-1", T) == ADMIN_VECTOR


def _armed(*comps):
    return lambda c: c in comps


def test_a_code_opens_once_and_only_its_compartment():
    led = codes.Ledger()
    c = codes.issue(KEY, "bank-1", 3, "pickup", T, 7)
    r = codes.check(KEY, "bank-1", c, T + 60, led, _armed(3))
    assert (r.ok, r.kind, r.compartment) == (True, "pickup", 3)
    led.add(r.entry)
    assert codes.check(KEY, "bank-1", c, T + 120, led, _armed(3)).reason == "used"
    assert codes.check(KEY, "bank-2", c, T, codes.Ledger(), _armed(3)).reason == "bad_code"
    other = "04" + c[2:]  # the same digits for compartment 4
    assert codes.check(KEY, "bank-1", other, T, codes.Ledger(), _armed(4)).reason == \
        "bad_code"
    # once the parcel is taken the compartment is free: the pickup code is refused as used
    assert codes.check(KEY, "bank-1", c, T + 180, led, _armed()).reason == "used"
    assert codes.check(KEY, "bank-1", c, T, codes.Ledger(), _armed()).reason == "not_armed"


def test_windows_expired_and_not_yet_valid():
    c = codes.issue(KEY, "bank-1", 3, "pickup", T + 86400, 2)  # valid from tomorrow 00:00
    led = codes.Ledger()
    assert codes.check(KEY, "bank-1", c, T, led, _armed(3)).reason == "not_yet_valid"
    start, end = codes.window("pickup", T + 86400)
    assert codes.check(KEY, "bank-1", c, start, led, _armed(3)).ok
    assert codes.check(KEY, "bank-1", c, end - 1, led, _armed(3)).ok
    assert codes.check(KEY, "bank-1", c, end, led, _armed(3)).reason == "expired"
    for later in range(end, end + 3 * 86400, 3600):
        assert not codes.check(KEY, "bank-1", c, later, led, _armed(3)).ok


def test_retrieve_needs_a_parcel_and_deposit_a_free_compartment():
    r = codes.issue(KEY, "bank-1", 3, "retrieve", T, 8)
    assert codes.check(KEY, "bank-1", r, T, codes.Ledger(), _armed()).reason == "not_armed"
    assert codes.check(KEY, "bank-1", r, T, codes.Ledger(), _armed(3)).ok
    d = codes.issue(KEY, "bank-1", 1, "deposit", T, 0)
    assert codes.check(KEY, "bank-1", d, T, codes.Ledger(), _armed()).kind == "deposit"


def test_clock_loss_refuses_time_bound_codes_until_an_admin_code():
    c = codes.issue(KEY, "bank-1", 3, "pickup", T, 7)
    assert codes.check(KEY, "bank-1", c, T, codes.Ledger(), _armed(3),
                       clock_ok=False).reason == "clock_lost"
    a = codes.check(KEY, "bank-1", ADMIN_VECTOR, 0, codes.Ledger(), _armed(),
                    clock_ok=False)
    assert a.ok and a.kind == "admin" and a.time_s == (T // 60) * 60
    assert codes.check(KEY, "bank-1", ADMIN_VECTOR, T, codes.Ledger(), _armed(),
                       last_admin_min=a.entry).reason == "stale"
    assert codes.check(KEY, "bank-1", ADMIN_VECTOR, T + 3600, codes.Ledger(),
                       _armed()).reason == "expired"


@settings(max_examples=300)
@given(st.text(alphabet="0123456789", min_size=0, max_size=20))
def test_random_digits_are_refused_with_a_reason(digits):
    r = codes.check(KEY, "bank-1", digits, T, codes.Ledger(), _armed(3))
    assert not r.ok and r.reason


@given(st.integers(1, 49), st.sampled_from(["deposit", "pickup", "retrieve"]),
       st.integers(0, 10**6), st.integers(0, 3 * 86400 - 1))
def test_every_issued_code_opens_in_its_window(comp, kind, seq, offset):
    c = codes.issue(KEY, "bank-9", comp, kind, T, seq)
    assert len(c) == 12
    start, end = codes.window(kind, T)
    now = start + offset
    armed = _armed() if kind == "deposit" else _armed(comp)
    r = codes.check(KEY, "bank-9", c, now, codes.Ledger(), armed)
    assert r.ok == (now < end)


def test_ledger_is_bounded_and_forgets_entries_whose_window_has_ended():
    led = codes.Ledger(max_entries=2)
    deposit, pickup = codes.entry_key(0, 3, 100, 0), codes.entry_key(1, 4, 100, 1)
    assert codes.entry_end(deposit) == 101 * codes.DAY
    assert codes.entry_end(pickup) == 103 * codes.DAY
    led.add(deposit)
    led.add(pickup)
    with pytest.raises(codes.CodeError):
        led.add(codes.entry_key(1, 5, 100, 0))
    led.prune(101 * codes.DAY)  # the deposit code's window has ended
    assert not led.used(deposit) and led.used(pickup) and not led.full()
    assert codes.Ledger(entries=led.to_list()).to_list() == led.to_list()
    assert codes.Ledger(entries=[[1, 3, 100, 0, 5]]).to_list() == []  # layout 1: dropped


def test_customer_who_mistypes_twice_gets_in_then_waits_at_most_a_minute():
    lk = lockout.Lockout()
    assert lk.may_try(0) is None
    lk.failed(0)
    lk.failed(1)
    assert lk.may_try(2) is None  # the third try is free
    lk.failed(2)
    assert lk.may_try(3) == "wait 29"
    assert lk.may_try(32) is None
    t, alarm = 40, False
    for _ in range(200):  # however long the guessing, the wait never passes the cap
        why = lk.may_try(t)
        if why is None:
            alarm = lk.failed(t) or alarm
        else:
            assert int(why.split()[1]) <= lockout.MAX_DELAY_S
            t += int(why.split()[1])
    assert alarm and lk.alarming()
    again = lockout.Lockout(lk.state())
    assert again.state() == lk.state()
    lk.reset()
    assert lk.may_try(t) is None and not lk.alarming()
    for _ in range(5):
        lk.failed(t)
    assert lk.may_try(t - 3600) == "wait 60"  # a clock moved back does not lengthen it


def test_failures_are_forgiven_slowly():
    lk = lockout.Lockout()
    for i in range(3):
        lk.failed(i)
    assert lk.may_try(lockout.FORGIVE_S + 2) is None and lk.failures == 2


def test_entry_needs_hash_and_clears_on_timeout_star_and_overflow():
    e = lockout.Entry(max_len=20, timeout_ms=5000)
    for k in "0394":
        assert e.key(k, 0) is None
    assert e.key("#", 100) == ("code", "0394")
    e.key("1", 0)
    assert e.key("2", 6000) == ("cleared", "timeout") and e.buf == "2"
    assert e.key("*", 6100) == ("cleared", "star") and e.buf == ""
    for _ in range(21):
        e.key("9", 7000)
    assert e.key("#", 7000) == ("cleared", "too_long")
    assert e.key("A", 7000) == ("cleared", "bad_key")


def test_an_over_long_entry_that_times_out_leaves_nothing_for_the_next_customer():
    """The app expires an idle entry every second (Entry.expire): a keypad mashed past
    max_len and left must not turn the next customer's good code into "too_long"."""
    e = lockout.Entry(max_len=20, timeout_ms=5000)
    for _ in range(25):
        e.key("9", 0)
    assert not e.expire(4999) and e.expire(5000) and not e.expire(5001)
    for k in "0394":
        e.key(k, 6000)
    assert e.key("#", 6100) == ("code", "0394")


SCRIPT = """
import codes, lockout
k = bytes(range(32))
for comp, kind, seq in ((1, "deposit", 0), (3, "pickup", 7), (3, "retrieve", 8), (49, "pickup", 1)):
    print(codes.issue(k, "bank-1", comp, kind, 1795339800, seq))
print(codes.issue_admin(k, "bank-1", 1795339800))
led = codes.Ledger()
r = codes.check(k, "bank-1", "039850255541", 1795339860, led, lambda c: c == 3)
print(r.ok, r.kind, r.compartment)
led.add(r.entry)
print(codes.check(k, "bank-1", "039850255541", 1795339900, led, lambda c: c == 3).reason)
print(lockout.attempts_in(30 * 86400))
"""


@pytest.mark.skipif(not MICROPYTHON.exists(), reason="micropython not installed")
def test_same_codes_on_micropython(tmp_path):
    lib = fw.FW_DIR.parent / "lib"
    env = {"MICROPYPATH": f"{fw.FW_DIR}:{lib}:.frozen", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([str(MICROPYTHON), "-X", "heapsize=128k", "-c", SCRIPT],
                         capture_output=True, text=True, env=env, timeout=60, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split()
    assert lines[:5] == [v[3] for v in VECTORS] + [ADMIN_VECTOR]
    assert out.stdout.splitlines()[5:] == ["True pickup 3", "used",
                                           str(lockout.attempts_in(30 * 86400))]
