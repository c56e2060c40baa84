"""The world's clock: the host's, or virtual time that skips what every board only waits through.

A virtual board's time is the host's monotonic clock plus `skipped_ms`, the idle time the
world has skipped so far; the boards and the world's own timers (deep-sleep wakes, WiFi
retries, the watchdog) all read that one clock. In real mode nothing is ever skipped.

In virtual mode each board tells the world, as it blocks, until when it waits (`idle` with
a deadline, fw/_world.py). When every running board waits, no radio frame or delayed
network chunk is in flight, no byte waits unread in a proxy, no network byte, host lookup or
console key has come for `QUIET_S`, and no test holds the clock, the world jumps to the
earliest deadline: a board's, a world timer's, or a watchdog's. Time between jumps runs at
the host's pace, so a board that computes, talks to a real broker or is busy in a loop sees
real time, as before.

Why not pure discrete events: the boards run a real VM that may compute for any time, and
talk to a real mosquitto whose replies the world cannot foresee; the quiet period is the
guess that no reply is on its way (docs/emulator.md, "Virtual time").
"""

from __future__ import annotations

import asyncio
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

# Real seconds without a network or console byte before the world may skip: a broker on the
# same host answers within a millisecond or two, a loaded CI host within tens of them.
QUIET_S = 0.05


class WorldClock:
    def __init__(self, virtual: bool = False) -> None:
        self.virtual = virtual
        self.skipped_ms = 0
        self.skips = 0
        self._timers: set[Later] = set()
        self._holds = 0
        self._in_flight = 0
        self._last_traffic = 0.0  # host monotonic
        # taken by the world for each decision to skip, and by a test taking hold: once
        # hold() has returned, no skip decided before it can still happen
        self.lock = threading.Lock()

    # -- reading it --------------------------------------------------------------------------
    def now(self) -> float:
        """Monotonic seconds on the world's clock (the host's plus what was skipped)."""
        return time.monotonic() + self.skipped_ms / 1000

    @staticmethod
    def host_ms() -> int:
        """The host's CLOCK_MONOTONIC in whole ms, unmasked: the VM's ticks_ms is the same
        clock masked to 30 bits, and a board learns the high bits from this (hello)."""
        return int(time.monotonic() * 1000)

    def now_ms(self) -> int:
        """The same in whole ms, as a board computes it (fw/_world.py now_ms)."""
        return self.host_ms() + self.skipped_ms

    def time(self) -> float:
        """Unix time on the world's clock."""
        return time.time() + self.skipped_ms / 1000

    # -- timers on it ------------------------------------------------------------------------
    def later(self, loop: asyncio.AbstractEventLoop, delay_s: float,
              fn: Callable[..., Any], *args: Any) -> Later:
        """loop.call_later on the world's clock: a skip brings it forward."""
        t = Later(self, loop, self.now() + max(0.0, delay_s), fn, args)
        self._timers.add(t)
        t._arm()
        return t

    def next_timer(self) -> float | None:
        return min((t.deadline for t in self._timers), default=None)

    # -- what stops a skip -------------------------------------------------------------------
    def traffic(self) -> None:
        """A network or console byte moved: a reply may be on its way."""
        self._last_traffic = time.monotonic()

    def in_flight(self, n: int) -> None:
        """A radio frame or a delayed network chunk is (+1) or is no longer (-1) on its way."""
        self._in_flight += n

    @contextmanager
    def hold(self) -> Iterator[None]:
        """No skip while held: a test that acts on boards in steps holds the clock across
        them, so that the world does not jump a board's timeout between two of its steps."""
        self.take()
        try:
            yield
        finally:
            self.let_go()

    def take(self) -> None:
        """hold() without its context: one hold more, given back by let_go()."""
        with self.lock:
            self._holds += 1

    def held(self) -> bool:
        with self.lock:
            return self._holds > 0

    def let_go(self) -> None:
        with self.lock:
            if self._holds <= 0:
                raise RuntimeError("the clock is not held")
            self._holds -= 1

    def may_skip(self) -> bool:
        return (self.virtual and not self._holds and self._in_flight <= 0
                and time.monotonic() - self._last_traffic >= QUIET_S)

    def skip_to_ms(self, target_ms: int) -> int:
        """Jump forward to target_ms; returns the ms skipped (0 if target is not ahead)."""
        gap = target_ms - self.now_ms()
        if gap <= 0:
            return 0
        self.skipped_ms += gap
        self.skips += 1
        for t in list(self._timers):
            t._arm()
        return gap


class Later:
    """A timer on the world's clock (WorldClock.later)."""

    def __init__(self, clock: WorldClock, loop: asyncio.AbstractEventLoop, deadline: float,
                 fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.clock = clock
        self.loop = loop
        self.deadline = deadline
        self.fn = fn
        self.args = args
        self._handle: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle = self.loop.call_later(max(0.0, self.deadline - self.clock.now()),
                                            self._fire)

    def _fire(self) -> None:
        self._handle = None
        self.clock._timers.discard(self)
        self.fn(*self.args)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self.clock._timers.discard(self)
