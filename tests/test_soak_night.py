"""The soak's night (host_tools/soak/night.py): the level a pole's profile gives by the tz
database across a summer-time change, and a check that fails on a pole that misses it."""

from __future__ import annotations

import calendar

from host_tools.soak import night
from host_tools.soak.night import EVENING_BASE, LATE_BASE, check_levels, expected_base


def _utc(*ymdhm: int) -> int:
    return calendar.timegm((*ymdhm, 0))


def test_the_level_follows_local_time_across_both_changes() -> None:
    # autumn: 01:30 summer time (23:30 UTC) is late; 00:30 winter time is evening again
    # after the clocks go back, the next night
    assert expected_base(_utc(2026, 10, 24, 23, 30)) == LATE_BASE
    assert expected_base(_utc(2026, 10, 24, 21, 30)) == EVENING_BASE  # 23:30 CEST
    assert expected_base(_utc(2026, 10, 25, 23, 30)) == EVENING_BASE  # 00:30 CET
    # spring: 00:30 UTC is 01:30 winter time; the next night 23:30 UTC is 01:30 summer time
    assert expected_base(_utc(2026, 3, 29, 0, 30)) == LATE_BASE
    assert expected_base(_utc(2026, 3, 29, 23, 30)) == LATE_BASE
    assert expected_base(_utc(2026, 3, 28, 23, 30)) == EVENING_BASE  # 00:30 CET


def test_no_verdict_near_the_change_of_level_or_by_day() -> None:
    assert expected_base(_utc(2026, 10, 24, 23, 5)) is None  # 01:05 CEST
    assert expected_base(_utc(2026, 10, 25, 10, 0)) is None  # 11:00 CET


def test_the_run_starts_on_an_eve_chosen_by_the_seed() -> None:
    assert night.start_utc(1) == _utc(2026, 10, 24, 18, 30)
    assert night.start_utc(2) == _utc(2026, 3, 28, 19, 30)


def test_a_pole_that_misses_summer_time_is_reported() -> None:
    """Readings every hour from the autumn eve, of a pole that keeps UTC+1 all year: at 01:30
    summer time it thinks 00:30 and stays at the evening's level."""
    start = night.start_utc(1)
    right = [(h * 3600.0, start + h * 3600.0, float(expected_base(start + h * 3600) or 0))
             for h in range(12)]
    assert check_levels({"pole-1": right}) == []
    wrong = list(right)
    wrong[5] = (wrong[5][0], wrong[5][1], float(EVENING_BASE))  # UTC+1 thinks it is 00:30
    (msg,) = check_levels({"pole-1": wrong})
    assert msg == "pole-1: level 10.0 at 01:30 CEST (18000 s), the profile says 5 (1 readings off)"
