"""The locker bank's pure core (firmware/locker/bank.py): flows, pending unlocks across power
cuts, alarms, cold chain, clock rollback."""

from hypothesis import example, given, settings
from hypothesis import strategies as st

from host_tools.locker import fw

codes = fw.load("codes")
bank = fw.load("bank")
lockout = fw.load("lockout")
KEY = bytes(range(32))
T = 1795339800
COMPS = {1: {"max_c": None, "max_s": 0}, 2: {"max_c": 8.0, "max_s": 60}}


def _bank(state=None):
    b = bank.Bank(KEY, "b1", COMPS, state, open_window_s=30, door_alarm_s=120)
    b.boot({1: False, 2: False}, T, True)
    b.take_actions()
    return b


def _kinds(actions):
    return [a[0] if a[0] != "audit" else "audit:" + a[1]["ev"] for a in actions]


def test_deposit_then_pickup_then_replay():
    b = _bank()
    dep = codes.issue(KEY, "b1", 1, "deposit", T, 0)
    assert b.code(dep, T) == "ok" and b.dirty
    acts = b.take_actions()
    assert ("unlock", 1) in acts
    b.door(1, True, T + 2)
    b.door(1, False, T + 10)
    assert b.c[1]["state"] == bank.ARMED
    pick = codes.issue(KEY, "b1", 1, "pickup", T, 0)
    assert b.code(pick, T + 100) == "ok"
    b.door(1, True, T + 102)
    b.door(1, False, T + 110)
    assert b.c[1]["state"] == bank.FREE
    b.take_actions()
    assert b.code(pick, T + 200) == "used"
    assert ("unlock", 1) not in b.take_actions()


def test_a_power_cut_inside_an_unlock_spends_the_code_either_way():
    b = _bank()
    dep = codes.issue(KEY, "b1", 1, "deposit", T, 0)
    b.code(dep, T)
    saved = b.state()  # what the app wrote before pulsing the lock
    # power cut, door shut at boot: it may have opened and shut in the dark
    again = bank.Bank(KEY, "b1", COMPS, saved)
    again.boot({1: False, 2: False}, T + 20, True)
    assert again.c[1]["pending"] is None and again.c[1]["state"] == bank.ARMED
    assert "unlock_cut" in _kinds(again.take_actions())[-2:][0]
    again.c[1]["state"] = bank.FREE
    assert again.code(dep, T + 30) == "used"
    # power cut while the door was being opened: the code is used
    other = bank.Bank(KEY, "b1", COMPS, saved)
    other.boot({1: True, 2: False}, T + 20, True)
    assert other.c[1]["state"] == bank.LOADING
    assert other.code(dep, T + 30) != "ok"


def test_an_unlock_not_followed_by_an_opening_keeps_the_code_spent_and_raises_an_alarm():
    """The pulse released the hook, which stays released until the door opens: a late
    opening completes the unlock (not a forced door), and the code never works again."""
    b = _bank()
    dep = codes.issue(KEY, "b1", 1, "deposit", T, 0)
    b.code(dep, T)
    assert b.code(dep, T + 5) != "ok"  # pending counts as used
    b.take_actions()
    b.tick(T + 31)
    assert b.c[1]["pending"] is not None
    assert ("alarm", "unlatched_1", True, {"comp": 1}) in b.take_actions()
    b.tick(T + 60)
    assert b.take_actions() == []  # said once
    assert b.code(dep, T + 90) != "ok"
    b.take_actions()
    b.door(1, True, T + 600)
    acts = b.take_actions()
    assert "audit:opened" in _kinds(acts) and "audit:forced" not in _kinds(acts)
    assert ("alarm", "unlatched_1", False, {"comp": 1}) in acts
    b.door(1, False, T + 610)
    assert b.c[1]["state"] == bank.ARMED
    assert b.code(dep, T + 700) == "used"


def test_forced_door_left_open_and_cold_chain():
    b = _bank()
    b.door(1, True, T)
    acts = b.take_actions()
    assert ("alarm", "forced_1", True, {"comp": 1}) in acts
    b.tick(T + 121)
    assert ("alarm", "door_left_open_1", True, {"comp": 1}) in b.take_actions()
    b.door(1, False, T + 130)
    assert ("alarm", "door_left_open_1", False, {"comp": 1}) in b.take_actions()
    b.tick(T + 200, {2: 9.5})
    b.tick(T + 230, {2: 12.0})
    assert not any(a[0] == "alarm" for a in b.take_actions())
    b.tick(T + 261, {2: 10.0})
    assert ("alarm", "cold_chain_2", True, {"comp": 2, "temp_c": 10.0}) in b.take_actions()
    b.tick(T + 300, {2: 5.0})
    acts = b.take_actions()
    ends = [a[1] for a in acts if a[0] == "audit" and a[1]["ev"] == "temp_excursion_end"]
    assert ends and ends[0]["max_c"] == 12.0 and ends[0]["seconds"] == 100
    assert ("alarm", "cold_chain_2", False, {"comp": 2}) in acts


def test_a_clock_rolled_back_is_not_believed_and_an_admin_code_sets_it():
    b = _bank()
    b.set_clock(T + 1000, True)
    b.set_clock(T, True)  # the RTC went back 1000 s
    assert b.now() == T + 1000 and "clock_behind" in b.alarms
    dep = codes.issue(KEY, "b1", 1, "deposit", T, 0)
    assert b.code(dep, T) == "ok"  # decided on the bank's time; nothing revives
    admin = codes.issue_admin(KEY, "b1", T + 1200)
    assert b.code(admin, T + 200) == "expired"  # 1000 s off the clock: refused
    admin = codes.issue_admin(KEY, "b1", T + 60)
    assert b.code(admin, T + 30) == "admin" and "clock_behind" not in b.alarms


def test_a_lost_clock_refuses_customer_codes_until_an_admin_code_sets_it():
    b = _bank()
    b.set_clock(0, False)  # the DS3231's oscillator stopped, no trusted SNTP
    dep = codes.issue(KEY, "b1", 1, "deposit", T, 0)
    assert b.code(dep) == "clock_lost"
    admin = codes.issue_admin(KEY, "b1", T + 1200)
    assert b.code(admin) == "admin"
    assert ("set_time", (T + 1200) // 60 * 60) in b.take_actions()
    assert b.code(dep) == "ok"


def test_with_the_clock_lost_the_limiter_runs_on_uptime_and_lets_the_admin_code_through():
    """The clock reads 0 for ever (DS3231 stopped, no trusted SNTP) and wrong codes were
    typed: on the clock's time the wait never ended, and the admin code that recovers the
    clock was refused with "wait 30" for ever. On the board's uptime it ends; a reboot
    starts it again rather than ending it."""
    b = _bank()
    b.set_clock(0, False)
    for i in range(lockout.FREE_FAILURES):  # wrong admin codes: customer codes are not
        assert b.code(f"{i:020d}", up_s=100 + i) == "bad_code"  # checked without a clock
    admin = codes.issue_admin(KEY, "b1", T)
    assert b.code(admin, up_s=110) == "wait " + str(102 + lockout.BASE_DELAY_S - 110)
    rebooted = bank.Bank(KEY, "b1", COMPS, b.state())
    rebooted.boot({1: False, 2: False}, 0, False, up_s=2)
    assert rebooted.code(admin, up_s=3).startswith("wait")  # the cut did not end the wait
    assert rebooted.code(admin, up_s=2 + lockout.MAX_DELAY_S) == "admin"


def test_a_forgiven_count_saved_with_a_time_ahead_of_the_new_uptime_is_no_wait():
    """A typo forgiven later leaves [0, T] in the state, T on the last boot's uptime, or a
    Unix time when older firmware saved it. After a reboot that T is far ahead of the new
    uptime, and with no failure left it must not read as a wait (it did: "wait 8195", or
    "wait 1764999994" for ever after the upgrade, the admin code included)."""
    dep = codes.issue(KEY, "b1", 1, "deposit", T, 0)
    for last in (8200, T):
        b = bank.Bank(KEY, "b1", COMPS, dict(_bank().state(), lockout=[0, last]))
        b.boot({1: False, 2: False}, T, True, up_s=5)
        assert b.code(dep, T + 1, up_s=6) == "ok", last
    b = bank.Bank(KEY, "b1", COMPS, dict(_bank().state(), lockout=[2, T]))  # older firmware's
    b.boot({1: False, 2: False}, T, True, up_s=5)
    assert b.code(f"01{0:010d}", T + 1, up_s=6) == "bad_code"  # the third: still free
    assert b.code(dep, T + 2, up_s=7).startswith("wait")  # then the wait, from this boot on
    assert b.code(dep, T + 40, up_s=6 + lockout.BASE_DELAY_S) == "ok"


def test_keypad_noise_is_counted_into_one_record_an_hour_and_cannot_push_real_events_out():
    """The audit log holds 500 records, and a forced door must stay in it. 500 malformed
    codes took 500 records; so did a used code typed again and again (no limiter), and a
    quiet minute between bursts let garbage and one guess a minute take three records a
    minute. Now whatever the keypad alone makes is one record, then one `noise` record an
    hour, written at the hour's end or before the bank's next other record."""
    b = _bank()
    b.door(1, True, T)
    b.door(1, False, T + 1)
    b.take_actions()
    dep = codes.issue(KEY, "b1", 1, "deposit", T, 0)
    for i in range(500):
        assert b.code("1", T + 10 + 6 * i).startswith("malformed")
        if i % 50 == 0:
            b.code(f"01{i:010d}", T + 11 + 6 * i)  # a guess every 5 minutes: 10 in all
    b.cleared("timeout", T + 3000)
    b.tick(T + 3005)
    audits = [a[1] for a in b.take_actions() if a[0] == "audit"]
    assert [a["ev"] for a in audits] == ["refused"]  # the hour is not over
    b.tick(T + 10 + bank.NOISE_WINDOW_S)
    [rec] = [a[1] for a in b.take_actions() if a[0] == "audit"]
    assert rec["ev"] == "noise" and rec["since"] == T + 10 and rec["t"] == T + 3000
    assert rec["kinds"] == {"malformed": 499, "bad_code": 10, "timeout": 1}
    assert rec["count"] == 510
    b.code("1", T + 4000)
    b.code("1", T + 4001)
    b.door(2, True, T + 4002)  # forced: the count comes first, then the door
    assert [a[1]["ev"] for a in b.take_actions() if a[0] == "audit"] == \
        ["refused", "noise", "forced"]
    assert b.code(dep, T + 4100) == "ok"  # the limiter's own business is untouched


def test_guessing_alarm_no_lock_and_only_an_admin_code_clears_the_count():
    b = _bank()
    t = T
    for i in range(40):
        why = b.lock.may_try(t)
        if why is None:
            b.code(f"01{i:010d}", t)
        else:
            t += int(why.split()[1])
    assert "guessing" in b.alarms and b.lock.failures >= lockout.ALARM_FAILURES
    dep = codes.issue(KEY, "b1", 1, "deposit", T, 0)
    t += lockout.MAX_DELAY_S
    assert b.code(dep, t) == "ok"  # no lock: a genuine code gets in after the wait
    assert b.lock.failures >= lockout.ALARM_FAILURES  # and it clears nothing
    admin = codes.issue_admin(KEY, "b1", t)
    assert b.code(admin, t) == "admin" and "guessing" not in b.alarms
    assert b.lock.failures == 0


def test_the_ledger_stops_an_old_pickup_code_after_the_compartment_is_refilled():
    b = _bank()
    dep_a = codes.issue(KEY, "b1", 1, "deposit", T, 0)
    dep_b = codes.issue(KEY, "b1", 1, "deposit", T, 1)
    pick = codes.issue(KEY, "b1", 1, "pickup", T, 0)
    for code, t in ((dep_a, T), (pick, T + 100), (dep_b, T + 200)):
        assert b.code(code, t) == "ok"
        b.door(1, True, t + 2)
        b.door(1, False, t + 10)
    assert b.c[1]["state"] == bank.ARMED  # refilled the same day
    b.take_actions()
    assert b.code(pick, T + 300) == "used"  # the first customer's code does not reopen it
    assert ("unlock", 1) not in b.take_actions()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["type", "open", "close", "tick", "cut"]),
                          st.integers(0, 2), st.integers(0, 40)), max_size=40))
# the door held shut past the window, then opened: the hook was still released
@example([("type", 0, 0), ("tick", 0, 31), ("open", 0, 1), ("close", 0, 1), ("type", 0, 1)])
def test_no_code_ever_opens_twice(steps):
    """Whatever the order of typing (two deposit codes and a pickup code for the same
    compartment and day), door moves, time and power cuts: a code whose pulse let the door
    open never pulses the lock again. The lock is a hook: a pulse releases it until the
    door has been opened, and a shut door opens only while it is released."""
    b = _bank()
    all_codes = [codes.issue(KEY, "b1", 1, "deposit", T, 0),
                 codes.issue(KEY, "b1", 1, "deposit", T, 1),
                 codes.issue(KEY, "b1", 1, "pickup", T, 0)]
    t = T
    door = False
    released_by: set[int] = set()  # the codes whose pulses hold the hook released
    opened: set[int] = set()  # the codes whose pulse let the door open
    for what, which, dt in steps:
        t += dt
        if what == "type":
            b.code(all_codes[which], t)
            if ("unlock", 1) in b.take_actions():
                assert which not in opened, "a code opened the door twice"
                released_by.add(which)
        elif what == "open" and not door and released_by:
            door = True
            opened |= released_by
            released_by = set()
            b.door(1, True, t)
        elif what == "close" and door:
            door = False
            b.door(1, False, t)
        elif what == "tick":
            b.tick(t)
        elif what == "cut":
            b = bank.Bank(KEY, "b1", COMPS, b.state())
            b.boot({1: door, 2: False}, t, True)
        b.take_actions()


def test_a_quiet_bank_does_not_write_its_state_every_tick():
    """The highest time seen is saved with any other change, or alone once an hour."""
    b = _bank()
    b.dirty = False
    writes = 0
    for t in range(T + 1, T + 7201):
        b.set_clock(t, True)
        b.tick()
        b.take_actions()
        if b.dirty:
            writes += 1
            b.state()
            b.dirty = False
    assert writes == 2


@given(st.lists(st.dictionaries(st.sampled_from([2, 5]),
                                st.one_of(st.none(), st.floats(-30, 40, allow_nan=False)),
                                min_size=1), min_size=1, max_size=40))
def test_the_cold_log_keeps_each_period_s_extremes_last_reading_and_failures(rounds):
    log = bank.ColdLog()
    for temps in rounds:
        log.add(temps)
    out = log.take({2: 8.0})
    for n in (2, 5):
        seen = [r[n] for r in rounds if n in r]
        if not seen:
            assert str(n) not in out
            continue
        good = [t for t in seen if t is not None]
        got = out[str(n)]
        assert got["failed"] == len(seen) - len(good)
        assert (got["min"], got["max"]) == ((min(good), max(good)) if good else (None, None))
        assert got["last"] == (good[-1] if good else None)
        assert got["max_c"] == (8.0 if n == 2 else None)
    assert log.take({}) == {}  # a new period starts empty
