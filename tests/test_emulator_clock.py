"""The world's clock (host_tools/emulator/clock.py): when it may skip, and timers that a skip
brings forward."""

from __future__ import annotations

import asyncio
import subprocess

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


MASK = (1 << 30) - 1


def test_board_and_host_read_the_same_monotonic_clock() -> None:
    """The VM's ticks_ms is CLOCK_MONOTONIC in ms masked to 30 bits, and time.monotonic() is
    the same clock unmasked: a board's idle deadline (fw/_world.py now_ms) means the same
    instant to the world once the board knows the high bits."""
    before = WorldClock.host_ms()
    out = subprocess.run([micropython_binary(), "-c", "import utime; print(utime.ticks_ms())"],
                         capture_output=True, text=True, check=True).stdout
    after = WorldClock.host_ms() + 1
    assert (int(out) - before) & MASK <= after - before


@pytest.mark.parametrize("host_ms,true_ms", [
    (5_000, 5_003),  # a host up for seconds
    (20 * 86_400_000, 20 * 86_400_000 + 7),  # up for 20 days: ticks_ms has wrapped once
    (3 * (MASK + 1) - 2, 3 * (MASK + 1) + 1),  # the VM's reading wraps after the host's
    (2 * 86_400_000, 2 * 86_400_000 - 1),  # the same instant, rounded 1 ms apart
])
def test_a_board_unmasks_its_ticks_with_the_hosts_high_bits(host_ms: int, true_ms: int) -> None:
    """Run in the VM: a host up for more than 12.4 days gave boards a clock 2^30 ms behind
    the world's, and virtual time never skipped."""
    from host_tools.emulator.world import FW_DIR

    code = (f"import sys; sys.path.insert(0, {str(FW_DIR)!r}); import _world; "
            f"print(_world.unmasked({host_ms}, {true_ms & MASK}))")
    out = subprocess.run([micropython_binary(), "-c", code],
                         capture_output=True, text=True, check=True).stdout
    assert int(out) == true_ms
