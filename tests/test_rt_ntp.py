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
from bourg.clock import AGREE_S, MIN_VALID_S, STEP_S, Clock, ntp_believed
from hypothesis import given
from hypothesis import strategies as st

NOW = 1796000000  # 2026-11-30, Unix seconds
times = st.integers(MIN_VALID_S + 86400, MIN_VALID_S + 40 * 365 * 86400)  # well past 2024


@given(clock=times, err=st.integers(-STEP_S, STEP_S))
def test_a_small_correction_to_a_set_clock_is_believed_at_once(clock: int, err: int) -> None:
    assert ntp_believed(clock, clock + err, None, 0)


@given(clock=st.one_of(st.none(), times), answer=times)
def test_a_single_answer_far_from_the_clock_or_with_no_clock_is_never_believed(
        clock: int | None, answer: int) -> None:
    if clock is None or abs(answer - clock) > STEP_S:
        assert not ntp_believed(clock, answer, None, 0)


@given(clock=st.one_of(st.none(), times), first=times, ago_ms=st.integers(0, 600000),
       err=st.integers(-3 * AGREE_S, 3 * AGREE_S))
def test_a_second_answer_is_believed_when_it_agrees_with_the_first(
        clock: int | None, first: int, ago_ms: int, err: int) -> None:
    second = first + ago_ms // 1000 + err
    if clock is not None and abs(second - clock) <= STEP_S:
        return  # a correction: believed whatever came before
    assert ntp_believed(clock, second, first, ago_ms) == (abs(err) <= AGREE_S)


def test_an_answer_before_2024_is_not_a_time() -> None:
    assert not ntp_believed(None, 0, 0, 0)
    assert not ntp_believed(MIN_VALID_S - 10, MIN_VALID_S - 10, None, 0)


class _Town:
    """The board's RTC (time.time on the Unix epoch), ticks_ms, and an NTP server whose next
    answers may lie."""

    def __init__(self, rtc_s: float) -> None:
        self.rtc_s = rtc_s
        self.true_s = float(NOW)
        self.lies: list[int] = []

    def ntp_time(self) -> int:
        return int(self.true_s) + (self.lies.pop(0) if self.lies else 0)

    def rtc_datetime(self, dt: tuple[int, ...]) -> None:
        y, mo, d, _wd, h, mi, s, _sub = dt
        import calendar
        self.rtc_s = calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0))

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
    town.elapse(2)
    assert c.sync_ntp() == "held"  # the truth, which disagrees with the lie
    town.elapse(2)
    assert c.sync_ntp() == "ok" and c.synced
    assert c.unix() == NOW + 4


def test_a_set_clock_is_not_moved_by_a_lie_and_follows_two_answers_that_agree(
        town: _Town) -> None:
    town.rtc_s = NOW - 30  # 30 s slow: a correction
    c = _clock(town)
    assert c.sync_ntp() == "ok" and c.unix() == NOW
    town.elapse(3600)
    town.lies = [-86400]
    assert c.sync_ntp() == "held" and c.unix() == NOW + 3600 and c.last_held == -86400
    assert c.holds == 1
    town.elapse(2)
    assert c.sync_ntp() == "ok" and c.unix() == NOW + 3602 and c.holds == 0
    # the board's own clock was wrong (a DS3231 an hour off): two answers agree, and win
    town.rtc_s += 3600
    assert c.sync_ntp() == "held"
    town.elapse(2)
    assert c.sync_ntp() == "ok" and c.unix() == NOW + 3604
