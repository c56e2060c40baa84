"""The public parking availability, served from a snapshot.

A city app's phones ask for the zones far more often than they change, and they ask while the
ingest is busiest (a burst of arrivals). So the FIWARE answer is built away from the
requests: `refresh()`, called by the web app's background task every REFRESH_S, rebuilds a
site's answer when the store's parking mark moved (the ingest bumps it in every transaction
that writes a bay or zone) and otherwise only marks it checked. A request takes the snapshot
as it is, and builds it itself only when nothing has checked it for MAX_AGE_S (no background
task, as under a test client) or for a site not asked before. Either way an answer is never
older than MAX_AGE_S.

Anyone may ask for any site name, so only sites asked for within IDLE_S are kept fresh, and
at most SITES_KEPT of them are held."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bourg_console import fiware
from bourg_console.store import Store

REFRESH_S = 0.5  # how often the background task looks for a change
MAX_AGE_S = 1.0  # the oldest answer a request is given
IDLE_S = 60.0  # a site nobody asked for in this long is dropped
SITES_KEPT = 64  # the most sites held at once (the town's own, None, is always kept)


@dataclass(frozen=True)
class Snapshot:
    zones: list[dict[str, Any]]  # FIWARE OnStreetParking entities
    json: str
    mark: int  # store.parking_mark() when it was built
    checked: float  # when the store was last seen unchanged since (clock())


class Availability:
    def __init__(self, store: Store, clock: Callable[[], float] = time.monotonic) -> None:
        self.store, self.clock = store, clock
        self._snaps: dict[str | None, Snapshot] = {}
        self._asked: dict[str | None, float] = {}
        self._lock = threading.Lock()  # one rebuild at a time: the request's or the task's

    def get(self, site: str | None) -> Snapshot:
        """The zones of `site` (None: every site), at most MAX_AGE_S old."""
        snap = self.fresh(site)
        if snap is not None:
            return snap
        with self._lock:
            t = self.clock()
            snap = self._renew(self._snaps.get(site), site, t)
            if site not in self._snaps and len(self._snaps) >= SITES_KEPT:
                for k in [k for k in self._snaps if k is not None]:
                    self._drop(k)
            self._snaps[site] = snap
            self._asked[site] = t
            return snap

    def fresh(self, site: str | None) -> Snapshot | None:
        """The snapshot if it can be given without touching the database, else None."""
        snap = self._snaps.get(site)
        t = self.clock()
        if snap is None or t - snap.checked >= MAX_AGE_S:
            return None
        self._asked[site] = t
        return snap

    def refresh(self) -> None:
        """Check the sites asked for lately: rebuild those whose parking changed, drop
        those nobody asks for any more."""
        with self._lock:
            t = self.clock()
            for site in [s for s, at in self._asked.items() if s is not None and
                         t - at > IDLE_S]:
                self._drop(site)
            sites = list(self._snaps)
        for site in sites:
            with self._lock:
                snap = self._snaps.get(site)
                if snap is not None:  # not dropped meanwhile
                    self._snaps[site] = self._renew(snap, site, self.clock())

    def _renew(self, snap: Snapshot | None, site: str | None, t: float) -> Snapshot:
        """`snap` marked checked at `t` if the store's parking is unchanged since it was
        built; otherwise (or without one) a new one."""
        mark = self.store.parking_mark()
        if snap is not None and snap.mark == mark:
            return Snapshot(snap.zones, snap.json, mark, t)
        zones = fiware.on_street_parking(self.store.zones(site), self.store.bays(site))
        return Snapshot(zones, json.dumps(zones), mark, t)

    def _drop(self, site: str | None) -> None:
        self._snaps.pop(site, None)
        self._asked.pop(site, None)
