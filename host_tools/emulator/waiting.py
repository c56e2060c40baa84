"""Wait for what a board does, never for a fixed time: the one poll-until helper of the rigs
and tests."""

from __future__ import annotations

import time
from collections.abc import Callable

POLL_S = 0.02


def wait_until(cond: Callable[[], object], timeout: float,
               what: str | Callable[[], str]) -> None:
    """Return as soon as cond() is true; TimeoutError naming `what` after `timeout` s. `what`
    may be a function, called only on a timeout, so that the message shows the state the
    wait ended in (a level, a display, the board's last output)."""
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            said = what() if callable(what) else what
            raise TimeoutError(f"{said} (waited {timeout} s)")
        time.sleep(POLL_S)
