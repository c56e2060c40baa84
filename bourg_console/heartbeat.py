"""The console's heartbeat: every `poll_s` it asks each board it knows for `cmd/status`, and
raises OFFLINE for a board that has let `missed` polls in a row go unanswered (alarms.py),
and an overstay for a vehicle past its zone's maximum stay (parking.py); then the on-call
staff are told what is owed (notify.py).

Boards publish nothing on a fixed beat of their own, and a broker notices a dead link only
after one and a half keepalives; a poll also fetches the heap and event queue the fleet page
shows (`reply/status`). The answer, like any message a board sends, clears the alarm."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt

from bourg_console.notify import Notifier
from bourg_console.store import Store

log = logging.getLogger("bourg_console.heartbeat")


class Heartbeat:
    def __init__(self, store: Store, client: mqtt.Client, site: str, *, poll_s: float = 60.0,
                 missed: int = 3, now: Callable[[], float] = time.time,
                 max_stay_s: dict[str, float] | None = None,
                 notifier: Notifier | None = None) -> None:
        """max_stay_s: each parking zone's longest stay; a vehicle past it is raised as an
        overstay at the next beat."""
        if poll_s <= 0 or missed < 1:
            raise ValueError("poll_s must be > 0 and missed >= 1")
        self.store, self.client, self.site = store, client, site
        self.poll_s, self.missed, self.now = poll_s, missed, now
        self.max_stay_s = max_stay_s or {}
        self.notifier = notifier
        self.polls = 0
        self.started = now()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="console-heartbeat",
                                        daemon=True)

    def start(self) -> Heartbeat:
        self.started = self.now()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - a database hiccup must not end the heartbeat
                log.exception("heartbeat tick failed")

    def tick(self) -> None:
        """One beat: everyone is asked again, then the overdue and the overstaying are
        raised and the on-call staff told. Each step is guarded on its own: a broken SMS
        modem must not stop the polls, or the whole fleet would soon look offline."""
        for b in self.store.boards():
            if b["site"] == self.site:
                self.client.publish(f"bourg/{self.site}/{b['device']}/cmd/status", b"{}",
                                     qos=1)
        self.polls += 1
        now = self.now()
        for step in (self._overdue, self._overstays, self._notify):
            try:
                step(now)
            except Exception:  # noqa: BLE001 - logged; the next step and beat still run
                log.exception("heartbeat: %s failed", step.__name__)

    def _overdue(self, now: float) -> None:
        # a board is judged from when this console began to poll it, not from before a
        # restart: it has had no poll to answer yet
        for device in self.store.raise_overdue(now, self.poll_s, self.missed,
                                               since=self.started):
            log.warning("%s has not answered %d status polls: offline", device, self.missed)

    def _overstays(self, now: float) -> None:
        if self.max_stay_s:
            for bay in self.store.raise_overstays(now, self.max_stay_s):
                log.warning("bay %s: overstay", bay)

    def _notify(self, now: float) -> None:
        if self.notifier is not None:
            self.notifier.tick(now)
