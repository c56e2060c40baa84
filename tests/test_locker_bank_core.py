"""The locker bank's pure core (firmware/locker/bank.py): flows, pending unlocks across power
cuts, alarms, cold chain, clock rollback."""

from hypothesis import given, settings
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


def test_pending_unlock_survives_a_power_cut_either_way():
    b = _bank()
    dep = codes.issue(KEY, "b1", 1, "deposit", T, 0)
    b.code(dep, T)
    saved = b.state()  # what the app wrote before pulsing the lock
    # power cut, door never opened: the code works again
    again = bank.Bank(KEY, "b1", COMPS, saved)
    again.boot({1: False, 2: False}, T + 20, True)
    assert again.c[1]["pending"] is None and again.code(dep, T + 30) == "ok"
    # power cut while the door was being opened: the code is used
    other = bank.Bank(KEY, "b1", COMPS, saved)
    other.boot({1: True, 2: False}, T + 20, True)
    assert other.c[1]["state"] == bank.LOADING
    assert other.code(dep, T + 30) != "ok"


def test_unlock_not_followed_by_opening_expires_and_the_code_stays_good():
    b = _bank()
    dep = codes.issue(KEY, "b1", 1, "deposit", T, 0)
    b.code(dep, T)
    assert b.code(dep, T + 5) != "ok"  # pending counts as used
    b.tick(T + 31)
    assert b.c[1]["pending"] is None
    assert b.code(dep, T + 40) == "ok"


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


def test_clock_rollback_means_clock_lost_until_an_admin_code():
    b = _bank()
    b.set_clock(T + 1000, True)
    b.set_clock(T, True)  # the RTC went back 1000 s
    assert not b.clock_ok
    pick = codes.issue(KEY, "b1", 1, "deposit", T, 0)
    assert b.code(pick, T) == "clock_lost"
    admin = codes.issue_admin(KEY, "b1", T + 1200)
    assert b.code(admin, T) == "admin"
    assert ("set_time", (T + 1200) // 60 * 60) in b.take_actions()


def test_lockout_alarm_and_merchant_reset():
    b = _bank()
    t = T
    for i in range(200):
        why = b.lock.may_try(t)
        if why == "locked":
            break
        if why is None:
            b.code(f"01{i:08d}", t)
        else:
            t += int(why.split()[1])
        t += 1
    assert b.lock.locked and "lockout" in b.alarms
    dep = codes.issue(KEY, "b1", 1, "deposit", T, 0)
    assert b.code(dep, t) == "locked"  # customers and merchants alike wait for an admin...
    admin = codes.issue_admin(KEY, "b1", t)
    assert b.code(admin, t) == "admin" and "lockout" not in b.alarms
    assert b.code(dep, t) == "ok"


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


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["type", "open", "close", "tick", "cut"]),
                          st.integers(0, 2), st.integers(0, 40)), max_size=40))
def test_no_code_ever_opens_twice(steps):
    """Whatever the order of typing (two deposit codes and a pickup code for the same
    compartment and day), door moves, time and power cuts: a code whose door has opened
    never pulses the lock again."""
    b = _bank()
    all_codes = [codes.issue(KEY, "b1", 1, "deposit", T, 0),
                 codes.issue(KEY, "b1", 1, "deposit", T, 1),
                 codes.issue(KEY, "b1", 1, "pickup", T, 0)]
    day = T // codes.DAY
    entries = [(0, 1, day, 0), (0, 1, day, 1), (1, 1, day, 0)]
    t = T
    door = False
    for what, which, dt in steps:
        t += dt
        if what == "type":
            used = b.ledger.used(entries[which])
            b.code(all_codes[which], t)
            if used:
                assert ("unlock", 1) not in b.take_actions(), "a used code opened again"
        elif what == "open" and not door:
            door = True
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
