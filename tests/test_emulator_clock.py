"""The world's clock (host_tools/emulator/clock.py): when it may skip, and timers that a skip
brings forward."""

from __future__ import annotations

import asyncio
import subprocess
import time

import pytest

from host_tools.emulator import clock as clock_mod
from host_tools.emulator.board_process import micropython_binary
from host_tools.emulator.clock import WorldClock


def test_real_clock_never_skips() -> None:
    c = WorldClock(virtual=False)
    assert not c.may_skip()


def test_skip_moves_every_reading_and_never_goes_back() -> None:
    c = WorldClock(virtual=True)
    before_ms, before_unix = c.now_ms(), c.time()
    assert c.skip_to_ms(before_ms + 3_600_000) >= 3_600_000 - 5
    assert c.now_ms() - before_ms >= 3_600_000
    assert c.time() - before_unix >= 3600
    assert c.skip_to_ms(c.now_ms() - 1000) == 0  # a deadline already past skips nothing
    assert c.skips == 1


def test_what_stops_a_skip(monkeypatch: pytest.MonkeyPatch) -> None:
    c = WorldClock(virtual=True)
    monkeypatch.setattr(clock_mod, "QUIET_S", 0.0)
    assert c.may_skip()
    with c.hold():
        assert not c.may_skip()
    c.in_flight(+1)
    assert not c.may_skip()
    c.in_flight(-1)
    monkeypatch.setattr(clock_mod, "QUIET_S", 60.0)
    c.traffic()
    assert not c.may_skip()  # a reply may be on its way


def test_a_skip_brings_world_timers_forward() -> None:
    """A deep-sleep wake an hour ahead fires as soon as the world skips to it."""
    c = WorldClock(virtual=True)
    loop = asyncio.new_event_loop()
    fired: list[str] = []
    try:
        c.later(loop, 3600, fired.append, "wake")
        c.later(loop, 7200, fired.append, "late")
        assert c.next_timer() == pytest.approx(c.now() + 3600, abs=1)
        c.skip_to_ms(int((c.next_timer() or 0) * 1000) + 1)
        loop.run_until_complete(asyncio.sleep(0.05))
        assert fired == ["wake"]
        t = c.later(loop, 10, fired.append, "cancelled")
        t.cancel()
        c.skip_to_ms(c.now_ms() + 20_000)
        loop.run_until_complete(asyncio.sleep(0.05))
        assert fired == ["wake"]
        assert c.next_timer() is not None  # "late" waits for its own hour
    finally:
        loop.close()


def test_board_and_host_read_the_same_monotonic_clock() -> None:
    """The VM's ticks_ms is CLOCK_MONOTONIC in ms, as time.monotonic() is: a board's idle
    deadline (fw/_world.py now_ms) means the same instant to the world."""
    before = int(time.monotonic() * 1000)
    out = subprocess.run([micropython_binary(), "-c", "import utime; print(utime.ticks_ms())"],
                         capture_output=True, text=True, check=True).stdout
    after = int(time.monotonic() * 1000) + 1
    assert before <= int(out) <= after
