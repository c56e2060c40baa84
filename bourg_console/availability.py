"""The public parking availability, served from a snapshot.

A city app's phones ask for the zones far more often than they change, and they ask while the
ingest is busiest (a burst of arrivals). So the FIWARE answer is built away from the
requests: `refresh()`, called by the web app's background task every REFRESH_S, rebuilds a
site's answer when its bays or zones changed and otherwise only marks it checked. A request
takes the snapshot as it is, and builds it itself only when nothing has checked it for
MAX_AGE_S (no background task, as under a test client) or for a site not asked before.
Either way an answer is never older than MAX_AGE_S."""

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
SITES_KEPT = 64  # any site name can be asked for: the snapshot never grows past this


@dataclass(frozen=True)
class Snapshot:
    zones: list[dict[str, Any]]  # FIWARE OnStreetParking entities
    json: str
    mark: tuple[Any, ...]  # store.parking_mark when it was built
    checked: float  # when the store was last seen unchanged since (clock())


class Availability:
    def __init__(self, store: Store, clock: Callable[[], float] = time.monotonic) -> None:
        self.store, self.clock = store, clock
        self._snaps: dict[str | None, Snapshot] = {}
        self._lock = threading.Lock()  # one rebuild at a time: the request's or the task's

    def get(self, site: str | None) -> Snapshot:
        """The zones of `site` (None: every site), at most MAX_AGE_S old."""
        snap = self._snaps.get(site)
        if snap is not None and self.clock() - snap.checked < MAX_AGE_S:
            return snap
        return self._check(site)

    def fresh(self, site: str | None) -> Snapshot | None:
        """The snapshot if it can be given without touching the database, else None."""
        snap = self._snaps.get(site)
        return snap if snap is not None and self.clock() - snap.checked < MAX_AGE_S else None

    def refresh(self) -> None:
        """Check every site asked for so far: rebuild those whose parking changed."""
        for site in list(self._snaps):
            self._check(site)

    def _check(self, site: str | None) -> Snapshot:
        with self._lock:
            t = self.clock()
            mark = self.store.parking_mark(site)
            snap = self._snaps.get(site)
            if snap is not None and snap.mark == mark:
                snap = Snapshot(snap.zones, snap.json, mark, t)
            else:
                zones = fiware.on_street_parking(self.store.zones(site), self.store.bays(site))
                snap = Snapshot(zones, json.dumps(zones), mark, t)
            if site not in self._snaps and len(self._snaps) >= SITES_KEPT:
                for k in [k for k in self._snaps if k is not None]:  # keep the town's page's
                    del self._snaps[k]
            self._snaps[site] = snap
            return snap
