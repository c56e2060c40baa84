"""firmware/lighting/dimmer.py: ramps, hold, neighbours, overrides, fail-safe."""
from hypothesis import example, given, settings
from hypothesis import strategies as st

from host_tools.lighting import fw

D = fw.load("dimmer")


def trace(d, t0, t1):
    """[(t, level)] of every output change in (t0, t1], following next_ms()."""
    out, t, last = [], t0, d.level(t0)
    while True:
        n = d.next_ms(t)
        if n is None or n > t1:
            return out
        t = n
        v = d.update(t)
        if v != last:
            out.append((t, v))
            last = v


def test_boot_is_fail_safe_until_ready():
    d = D.Dimmer(0, base_level=10)
    assert d.level(0) == 100.0 and d.reason == D.SAFE
    d.presence(True, 10)
    assert d.level(10) == 100.0
    d.ready(1000)
    assert d.reason == D.PRESENCE


def test_presence_ramp_hold_and_ramp_down():
    d = D.Dimmer(0, base_level=10, presence_level=90, hold_ms=15000)
    d.ready(0)
    trace(d, 0, 10000)
    assert d.level(10000) == 10.0
    d.presence(True, 10000)
    up = trace(d, 10000, 12000)
    assert up[-1][1] == 90.0 and up[-1][0] - 10000 <= 1000  # ramp-up within 1 s (default)
    levels = [10.0] + [lv for _, lv in up]
    assert all(b > a and b - a <= 5.0 for a, b in zip(levels, levels[1:], strict=False))
    d.presence(False, 20000)
    assert trace(d, 20000, 34999) == []  # held
    down = trace(d, 20000, 60000)
    assert 35000 < down[0][0] <= 35100 and down[-1][1] == 10.0
    ts = [35000] + [t for t, _ in down]
    lv = [90.0] + [v for _, v in down]
    assert all(b - a <= 100 for a, b in zip(ts, ts[1:], strict=False))  # step <= 0.1 s
    assert all(0 < a - b <= 5.0 for a, b in zip(lv, lv[1:], strict=False))  # or every 5 %
    assert d.next_ms(60000) is None


def test_neighbour_request_expires_and_fall_back():
    d = D.Dimmer(0)
    d.ready(0)
    trace(d, 0, 5000)
    d.neighbour("a", 50, 8000, 5000)
    assert d.target == 50.0 and d.reason == D.NEIGHBOUR
    trace(d, 5000, 7999)
    assert d.level(7999) == 50.0
    trace(d, 7999, 20000)
    assert d.level(20000) == 0.0
    # fall back: a hold asked to end early while the sensor still sees someone
    d.presence(True, 30000)
    d.fall_back(31000, 30500)  # tail 500 ms
    d.presence(False, 40000)
    trace(d, 40000, 40499)
    assert d.target == 100.0
    trace(d, 40499, 40600)
    assert d.target == 0.0


def test_override_and_expiry():
    d = D.Dimmer(0, base_level=20)
    d.ready(0)
    d.override(70, 10000, 100)
    assert d.target == 70.0 and d.reason == D.OVERRIDE
    d.presence(True, 200)
    assert d.target == 70.0  # an override replaces presence
    trace(d, 200, 10001)
    assert d.target == 100.0 and d.reason == D.PRESENCE


def test_stuck_sensor_goes_safe_and_recovers():
    d = D.Dimmer(0, base_level=0, stuck_ms=60000)
    d.ready(0)
    d.presence(True, 1000)
    d.set_levels(1000, presence=40)
    trace(d, 1000, 61000)
    assert d.stuck and d.reason == D.SAFE and d.target == 100.0
    d.presence(False, 70000)
    assert not d.stuck


def test_safe_mode_dominates():
    d = D.Dimmer(0, safe_level=80)
    d.ready(0)
    d.override(10, 10**9, 0)
    d.set_fault("safe_mode", True, 10)
    assert d.target == 80.0
    d.set_fault("safe_mode", False, 20)
    assert d.target == 10.0


OPS = st.lists(st.tuples(
    st.sampled_from(["pres_on", "pres_off", "nb", "fall", "ovr", "ovr_clear", "fault",
                     "unfault", "levels", "tick"]),
    st.integers(0, 5000), st.floats(-20, 130, allow_nan=False), st.integers(0, 60000)),
    max_size=40)


@settings(max_examples=150, deadline=None)
@given(OPS, st.integers(0, 2000), st.integers(0, 10000))
# edge case: the ramp up to a neighbour's level ends at the very ms the request expires
@example([("nb", 5, 100.0, 5), ("pres_on", 5, 0.0, 0)], 4, 1)
# edge case: a 1 ms ramp-up has 20 steps of 5 %; it must still take 1 ms, not 20
@example([("fault", 0, 0.0, 0)], 1, 0)
def test_invariants(ops, up, down):
    d = D.Dimmer(0, ramp_up_ms=up, ramp_down_ms=down, hold_ms=3000, safe_level=100)
    d.ready(0)
    t = 0
    for op, dt, lv, dur in ops:
        before_t, before = t, d.level(t)
        t += dt
        # between inputs the output moves toward the current target, within 0..100
        seen, tt = before, before_t
        while True:
            n = d.next_ms(tt)
            if n is None or n > t:
                break
            tt = n
            old_tgt = d.target
            v = d.update(tt)
            assert 0.0 <= v <= 100.0
            # toward the target it had (a ramp may end the instant a request expires) or the
            # new one; never beyond both
            lo, hi = min(seen, old_tgt, d.target), max(seen, old_tgt, d.target)
            assert lo - 1e-9 <= v <= hi + 1e-9
            seen = v
        if op == "pres_on":
            d.presence(True, t)
        elif op == "pres_off":
            d.presence(False, t)
        elif op == "nb":
            d.neighbour(dur % 3, lv, t + dur, t)
        elif op == "fall":
            d.fall_back(t + dur, t)
        elif op == "ovr":
            d.override(lv, t + dur, t)
        elif op == "ovr_clear":
            d.override(None, 0, t)
        elif op == "fault":
            d.set_fault("sensor", True, t)
        elif op == "unfault":
            d.set_fault("sensor", False, t)
        elif op == "levels":
            d.set_levels(t, base=lv, presence=lv)
        else:
            d.update(t)
        assert 0.0 <= d.level(t) <= 100.0
        if d.faults:
            assert d.target == 100.0 and d.reason == D.SAFE  # fail-safe dominates
    if d.faults:
        # and the output reaches it within the ramp-up time
        assert d.update(t + up + 1) == 100.0


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 1000), st.integers(0, 1000), st.integers(0, 3000),
       st.integers(1, 100), st.integers(10, 1000))
@example(0, 28, 36, 1, 10)  # a 1 ms ramp of 2.8 % in 1 % steps: one step, on time
@example(0, 1000, 3000, 5, 100)  # the usual case: 5 % steps, 100 ms apart
def test_single_ramp_is_monotonic_in_small_steps(a, b, rate, step_pct, step_ms):
    d = D.Dimmer(0, ramp_up_ms=rate, ramp_down_ms=rate, base_level=a / 10,
                 step_pct=step_pct, step_ms=step_ms)
    d.ready(0)
    trace(d, 0, 10**6)
    t0 = 10**6
    start = d.level(t0)
    d.set_levels(t0, base=b / 10)
    pts = [(t0, d.level(t0))] + trace(d, t0, t0 + 10**6)
    lv = [v for _, v in pts]
    assert lv[-1] == b / 10
    sign = 1 if b / 10 >= start else -1
    assert all((y - x) * sign >= 0 for x, y in zip(lv, lv[1:], strict=False))
    delta_d = round(abs(b / 10 - start) * 10)
    dur = delta_d * rate // 1000
    if dur * step_pct * 10 >= delta_d:  # at least 1 ms per step of step_pct: small steps
        assert all(abs(y - x) <= step_pct + 0.1 for x, y in zip(lv, lv[1:], strict=False))
    else:  # a ramp shorter than its steps keeps its time with bigger steps (0 ms: a jump)
        assert pts[-1][0] - t0 <= max(dur, 0)
    if rate:
        assert all(t2 - t1 <= step_ms for (t1, _), (t2, _) in zip(pts, pts[1:], strict=False))
