"""Watchdog supervisor: feed the hardware WDT only while every registered task makes progress.

Why: a hung asyncio task does not stop the loop, so feeding the WDT from a timer would hide it.
Each task calls alive(name); when one stays silent beyond its window, we stop feeding and the
hardware watchdog resets the board - the only recovery that always works in the field. A task
registered without a window is watched for crashes only (fail()): silence alone never resets
a board, however long it runs.
"""
from bourg import compat


class Supervisor:
    """Pure core: register/alive/check take now_ms (defaults to ticks_ms for the shell)."""

    def __init__(self):
        self._tasks = {}  # name -> [max_silence_ms, last_alive_ms, failed]

    def register(self, name, max_silence_ms, now_ms=None):
        """max_silence_ms: the longest silence allowed between alive() calls, or None for a
        task watched for crashes only."""
        if max_silence_ms is not None and max_silence_ms <= 0:
            raise ValueError("max_silence_ms must be > 0")
        if now_ms is None:
            now_ms = compat.ticks_ms()
        self._tasks[name] = [max_silence_ms, now_ms, False]

    def unregister(self, name):
        self._tasks.pop(name, None)

    def alive(self, name, now_ms=None):
        t = self._tasks.get(name)
        if t is None:
            return
        if now_ms is None:
            now_ms = compat.ticks_ms()
        t[1] = now_ms

    def fail(self, name):
        """Mark a task dead for good (e.g. its coroutine crashed): the board will be reset."""
        t = self._tasks.get(name)
        if t is not None:
            t[2] = True

    def names(self):
        return list(self._tasks)

    def check(self, now_ms):
        """(feed, stuck_name): feed is True only if every task is within its window."""
        for name in self._tasks:
            limit, last, failed = self._tasks[name]
            if failed:
                return False, name
            if limit is not None and compat.ticks_diff(now_ms, last) > limit:
                return False, name
        return True, None

    def silence_ms(self, name, now_ms):
        t = self._tasks[name]
        return compat.ticks_diff(now_ms, t[1])


def make_wdt(timeout_ms):
    """machine.WDT when the port has one (ESP32), else None (Unix port, CPython)."""
    try:
        import machine

        return machine.WDT(timeout=timeout_ms)
    except (ImportError, AttributeError, ValueError, OSError, TypeError):
        return None


STUCK_PATH = "/data/last_stuck"


def take_last_stuck(path=STUCK_PATH):
    """The task blamed before the last watchdog reset (then forgotten), or None."""
    from bourg import store

    rec = store.load(path, None)
    if rec is not None:
        store.remove(path)
    return rec


def _note_stuck(name, path):
    # The RAM log dies with the reset; one small atomic record says who was to blame.
    try:
        from bourg import store

        store.save(path, {"task": name})
    except Exception:  # noqa: BLE001 - best effort, the reset must happen anyway
        pass


async def watchdog_task(sup, ring, wdt_timeout_ms=30000, period_ms=None, wdt=None,
                        reset_fn=None, stuck_path=STUCK_PATH):
    """Shell: every period, feed the WDT if sup.check() allows; log the stuck task once and
    note it on flash so the next boot can report it.
    Without a hardware WDT (Unix), reset_fn (if given) is called after wdt_timeout_ms stuck.
    The period defaults to a quarter of the timeout, at most 5 s: fed in time with room to
    spare, without waking the board every second."""
    if period_ms is None:
        period_ms = min(5000, wdt_timeout_ms // 4)
    if wdt is None:
        wdt = make_wdt(wdt_timeout_ms)
    reported = None
    stuck_since = None
    while True:
        now = compat.ticks_ms()
        feed, stuck = sup.check(now)
        if feed:
            if wdt is not None:
                wdt.feed()
            reported = None
            stuck_since = None
        else:
            if stuck != reported:
                ring.error("sup", "task '" + str(stuck) + "' stuck; watchdog will reset")
                if stuck_path:
                    _note_stuck(str(stuck), stuck_path)
                reported = stuck
                stuck_since = now
            if (wdt is None and reset_fn is not None and
                    compat.ticks_diff(now, stuck_since) > wdt_timeout_ms):
                reset_fn()
        await compat.asleep_ms(period_ms)
