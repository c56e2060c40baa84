"""Backoff, supervisor, log ring and clock: pure logic, fake time."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "mp"))
import hostsetup  # noqa: F401
import pytest
from bourg import compat
from bourg.backoff import Backoff
from bourg.clock import EPOCH_2000, Clock
from bourg.logring import REPLY_LINES, LogRing, is_secret_key, redact
from bourg.supervisor import Supervisor
from hypothesis import given
from hypothesis import strategies as st

rands = st.floats(0, 0.9999)


@given(st.lists(rands, min_size=1, max_size=30), st.integers(100, 5000),
       st.integers(1, 50), st.floats(0, 1))
def test_backoff_bounds(rs, mn, mult, jitter):
    b = Backoff(mn, mn * mult, 2, jitter)
    prev_base = 0
    for i, r in enumerate(rs):
        d = b.next_ms(r)
        assert mn <= d <= mn * mult
        base = b.base_ms(i)
        assert base >= prev_base
        assert d <= base
        assert d >= int(base * (1 - jitter)) or d == mn
        prev_base = base


def test_backoff_sequence_and_reset():
    b = Backoff(1000, 60000, jitter=0)
    assert [b.next_ms(0.5) for _ in range(8)] == [1000, 2000, 4000, 8000, 16000, 32000,
                                                  60000, 60000]
    b.reset()
    assert b.next_ms(0.99) == 1000
    with pytest.raises(ValueError):
        Backoff(0, 10)


@given(st.integers(0, compat.TICKS_PERIOD - 1),
       st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 5000)), max_size=40))
def test_supervisor_feeds_only_when_all_alive(t0, script):
    sup = Supervisor()
    windows = {"a": 1000, "b": 3000, "c": 500}
    last = {}
    for n, w in windows.items():
        sup.register(n, w, now_ms=t0)
        last[n] = 0
    t = 0
    for name, dt in script:
        t += dt
        now = compat.ticks_add(t0, t)  # exercises the ticks wrap-around
        feed, stuck = sup.check(now)
        late = [n for n in windows if t - last[n] > windows[n]]
        assert feed == (not late)
        if late:
            assert stuck in late
        sup.alive(name, now_ms=now)
        last[name] = t


def test_supervisor_fail_and_unregister():
    sup = Supervisor()
    sup.register("x", 100, now_ms=0)
    assert sup.check(50) == (True, None)
    sup.fail("x")
    assert sup.check(51) == (False, "x")
    sup.unregister("x")
    assert sup.check(10**6) == (True, None)
    sup.register("crash-only", None, now_ms=0)
    assert sup.check(compat.ticks_add(0, 49 * 3600000)) == (True, None)
    sup.fail("crash-only")
    assert sup.check(1) == (False, "crash-only")
    with pytest.raises(ValueError):
        sup.register("y", 0)


def test_ticks_diff_wrap():
    a = compat.TICKS_PERIOD - 10
    assert compat.ticks_diff(compat.ticks_add(a, 30), a) == 30
    assert compat.ticks_diff(a, compat.ticks_add(a, 30)) == -30


def test_logring_bounded_and_dump():
    r = LogRing(size=4, console=False, time_fn=lambda: 7)
    for i in range(10):
        r.info("t", "m%d", i)
    d = r.dump()
    assert [x["msg"] for x in d] == ["m6", "m7", "m8", "m9"] and d[0]["i"] == 6
    assert [x["msg"] for x in r.dump(since=8)] == ["m8", "m9"]
    assert r.dump(limit=1)[0]["msg"] == "m9"
    r.debug("t", "hidden")
    assert r.total == 10
    r.info("t", "bad %d format", "x")  # never raises
    assert r.total == 11


def test_logring_console_and_redaction(capsys):
    r = LogRing(console=True, time_fn=lambda: 1)
    r.add_secret("hunter22")
    r.add_secret("ab")  # too short to scrub safely
    r.warn("wifi", "password hunter22 rejected")
    out = capsys.readouterr().out
    assert "hunter22" not in out and "[1 W] wifi: password *** rejected" in out


def test_redact_keys():
    for k in ("password", "wifi_password", "secrets", "key", "api_key", "token", "psk"):
        assert is_secret_key(k)
    for k in ("keepalive", "monkey", "level", "host", "keys"):
        assert not is_secret_key(k)
    d = {"a": 1, "secrets": {"x": 1}, "n": [{"mqtt_password": "p", "ok": 2}]}
    assert redact(d) == {"a": 1, "secrets": "***", "n": [{"mqtt_password": "***", "ok": 2}]}
    assert d["secrets"] == {"x": 1}  # the original is untouched


def _gm_2000(t):
    import time
    return time.gmtime(t + EPOCH_2000)


def test_clock_validity_esp32_epoch():
    c = Clock(time_fn=lambda: 5, gmtime=_gm_2000)  # RTC after a power cut: 2000-01-01
    assert not c.valid() and c.unix() is None and c.iso() is None
    t2025 = 1767225600 - EPOCH_2000  # 2026-01-01 in ESP32 epoch seconds
    c = Clock(time_fn=lambda: t2025, gmtime=_gm_2000)
    assert c.valid() and c.unix() == 1767225600 and c.iso() == "2026-01-01T00:00:00Z"


def test_clock_unix_epoch_and_ntp_missing():
    import time
    c = Clock(time_fn=lambda: 1767225600, gmtime=time.gmtime)
    assert c.unix() == 1767225600
    assert c.sync_ntp() == "failed"  # no ntptime on CPython: guarded


def test_the_ring_holds_what_cmd_log_sends_and_not_much_more():
    """cmd/log sends the last REPLY_LINES; the ring keeps those and a few more, each entry
    being ~120 bytes of the chip's heap."""
    ring = LogRing(console=False, time_fn=lambda: 0)
    for i in range(100):
        ring.info("t", "line %d", i)
    lines = ring.dump(limit=REPLY_LINES)
    assert [e["msg"] for e in lines] == [f"line {i}" for i in range(80, 100)]
    assert REPLY_LINES <= ring.size <= REPLY_LINES + 8
    assert len([e for e in ring._buf if e is not None]) == ring.size


@given(st.integers(0, compat.TICKS_PERIOD - 1),
       st.lists(st.integers(0, (compat.TICKS_PERIOD >> 1) - 1), min_size=1, max_size=40))
def test_uptime_counts_on_across_ticks_wraps(start, steps):
    """compat.Uptime: plain milliseconds since boot however often ticks_ms wraps, as long as
    it is read at least every half period."""
    ticks = [start]
    up = compat.Uptime(lambda: ticks[0])
    total = 0
    for step in steps:
        ticks[0] = (ticks[0] + step) % compat.TICKS_PERIOD
        total += step
        assert up() == total
