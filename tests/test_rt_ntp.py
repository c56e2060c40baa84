"""An NTP answer is believed only when it is a small correction or a second answer agrees
(bourg.clock): one lying answer never moves a board's clock."""

from __future__ import annotations

import os
import sys
import time
import types
from collections.abc import Iterator

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "mp"))
import hostsetup  # noqa: F401,E402
import pytest
from bourg import clock as clockmod
from bourg.clock import AGREE_MS, CONFIRM_MS, MIN_VALID_S, STEP_S, Clock, ntp_believed
from hypothesis import given
from hypothesis import strategies as st

NOW = 1796000000  # 2026-11-30, Unix seconds
times = st.integers(MIN_VALID_S + 86400, MIN_VALID_S + 40 * 365 * 86400)  # well past 2024


@given(clock=times, err=st.integers(-STEP_S, STEP_S))
def test_a_small_correction_to_a_set_clock_is_believed_at_once(clock: int, err: int) -> None:
    assert ntp_believed(clock, clock + err, [])


@given(clock=st.one_of(st.none(), times), answer=times)
def test_a_single_answer_far_from_the_clock_or_with_no_clock_is_never_believed(
        clock: int | None, answer: int) -> None:
    if clock is None or abs(answer - clock) > STEP_S:
        assert not ntp_believed(clock, answer, [])


@given(clock=st.one_of(st.none(), times), first=times, ago_s=st.integers(0, 600),
       err=st.integers(-3, 3))
def test_a_second_answer_is_believed_when_it_agrees_with_the_first(
        clock: int | None, first: int, ago_s: int, err: int) -> None:
    second = first + ago_s + err
    if clock is not None and abs(second - clock) <= STEP_S:
        return  # a correction: believed whatever came before
    assert ntp_believed(clock, second, [(first, ago_s * 1000)]) == (abs(err) * 1000 <= AGREE_MS)


@given(clock=st.one_of(st.none(), times), frozen=times, ago_ms=st.integers(CONFIRM_MS, 600000))
def test_a_frozen_answer_never_agrees_with_itself(clock: int | None, frozen: int,
                                                  ago_ms: int) -> None:
    if clock is None or abs(frozen - clock) > STEP_S:
        assert not ntp_believed(clock, frozen, [(frozen, ago_ms)])


def test_an_answer_before_2024_is_not_a_time() -> None:
    assert not ntp_believed(None, 0, [(0, 0)])
    assert not ntp_believed(MIN_VALID_S - 10, MIN_VALID_S - 10, [])


class _Town:
    """The board's RTC (time.time on the Unix epoch), ticks_ms, and an NTP server whose next
    answers may lie."""

    def __init__(self, rtc_s: float) -> None:
        self.rtc_s = rtc_s
        self.true_s = float(NOW)
        self.lies: list[int] = []
        self.epoch = 0  # what the port's time.time() counts from, in Unix seconds

    def ntp_time(self) -> int:
        """As ntptime.time(): seconds since the port's epoch."""
        return int(self.true_s) - self.epoch + (self.lies.pop(0) if self.lies else 0)

    def rtc_datetime(self, dt: tuple[int, ...]) -> None:
        y, mo, d, _wd, h, mi, s, _sub = dt
        import calendar
        self.rtc_s = calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)) - self.epoch

    def elapse(self, s: float) -> None:
        self.true_s += s
        self.rtc_s += s


@pytest.fixture
def town(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Town]:
    t = _Town(rtc_s=0)
    ntptime = types.ModuleType("ntptime")
    ntptime.time = t.ntp_time  # type: ignore[attr-defined]
    machine = types.ModuleType("machine")

    class RTC:
        def datetime(self, dt: tuple[int, ...]) -> None:
            t.rtc_datetime(dt)

    machine.RTC = RTC  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ntptime", ntptime)
    monkeypatch.setitem(sys.modules, "machine", machine)
    ms = [0]
    monkeypatch.setattr(clockmod.compat, "ticks_ms", lambda: ms[0])
    orig = t.elapse

    def elapse(s: float) -> None:
        orig(s)
        ms[0] += int(s * 1000)

    t.elapse = elapse  # type: ignore[method-assign]
    yield t


def _clock(town: _Town) -> Clock:
    return Clock(time_fn=lambda: town.rtc_s, gmtime=time.gmtime)


def test_a_board_with_no_clock_believes_two_answers_that_agree_not_one_lie(town: _Town) -> None:
    c = _clock(town)
    town.lies = [12 * 3600]  # noon at midnight
    assert c.sync_ntp() == "held" and c.unix() is None and c.last_held is None
    town.elapse(5)
    assert c.sync_ntp() == "held"  # the truth, which disagrees with the lie
    town.elapse(5)
    assert c.sync_ntp() == "ok" and c.synced
    assert c.unix() == NOW + 10


def test_a_lie_between_two_truths_costs_one_round_not_a_minute(town: _Town) -> None:
    c = _clock(town)
    assert c.sync_ntp() == "held"  # the truth, with no clock to compare
    town.elapse(5)
    town.lies = [-3 * 3600]
    assert c.sync_ntp() == "held"
    town.elapse(5)
    assert c.sync_ntp() == "ok" and c.unix() == NOW + 10  # agrees with the first


def test_a_frozen_server_never_sets_the_clock_and_is_asked_less_often(town: _Town) -> None:
    from bourg.logring import LogRing

    c = _clock(town)
    sys.modules["ntptime"].time = lambda: NOW  # type: ignore[attr-defined]
    ring = LogRing(console=False, time_fn=lambda: 0)
    waits = []
    for _ in range(6):
        waits.append(clockmod._after_sync(c, ring, None, 3600000, 60000))
        town.elapse(waits[-1] / 1000)
    assert c.unix() is None and not c.synced
    assert waits[:3] == [CONFIRM_MS] * 3 and waits[-1] == 60000


def test_the_rtc_is_set_in_the_ports_epoch(town: _Town) -> None:
    """On the ESP32 time.time() counts from 2000: the Unix answer goes back to that epoch
    once, as ntptime.settime does."""
    town.rtc_s = 0  # 2000-01-01 in the ESP32 epoch
    town.epoch = clockmod.EPOCH_2000
    c = Clock(time_fn=lambda: town.rtc_s, gmtime=lambda t: time.gmtime(t + clockmod.EPOCH_2000))
    assert c.sync_ntp() == "held"
    town.elapse(5)
    assert c.sync_ntp() == "ok"
    assert c.unix() == NOW + 5 and town.rtc_s == NOW + 5 - clockmod.EPOCH_2000


def test_an_rtc_that_refuses_is_a_failed_sync_not_an_exception(
        town: _Town, monkeypatch: pytest.MonkeyPatch) -> None:
    c = _clock(town)
    town.rtc_s = NOW

    def refuse(dt: tuple[int, ...]) -> None:
        raise OSError(5)

    monkeypatch.setattr(town, "rtc_datetime", refuse)
    town.lies = [30]
    assert c.sync_ntp() == "failed" and c.sync_errors == 1 and not c.synced


def test_a_set_clock_is_not_moved_by_a_lie_and_follows_two_answers_that_agree(
        town: _Town) -> None:
    town.rtc_s = NOW - 30  # 30 s slow: a correction
    c = _clock(town)
    assert c.sync_ntp() == "ok" and c.unix() == NOW
    town.elapse(3600)
    town.lies = [-86400]
    assert c.sync_ntp() == "held" and c.unix() == NOW + 3600 and c.last_held == -86400
    assert c.holds == 1
    town.elapse(5)
    assert c.sync_ntp() == "ok" and c.unix() == NOW + 3605 and c.holds == 0
    # the board's own clock was wrong (a DS3231 an hour off): two answers agree, and win
    town.rtc_s += 3600
    assert c.sync_ntp() == "held"
    town.elapse(5)
    assert c.sync_ntp() == "ok" and c.unix() == NOW + 3610
