"""What a site's boards say over MQTT, folded into one row per board: online or not, events
(de-duplicated by sequence number, as the link delivers at least once), the latest telemetry
and alarms. Used by `bourg monitor` and `bourg demo`."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from host_tools.field.mqtt_watch import Message


@dataclass
class BoardView:
    name: str
    status: str = "-"
    events: int = 0
    dups: int = 0
    last_seq: int = 0
    last_event: str = ""
    last_seen: float = 0.0
    boot_cause: str = ""
    telemetry: dict[str, Any] = field(default_factory=dict)
    alarms: list[str] = field(default_factory=list)
    seen: set[int] = field(default_factory=set)

    def summary(self) -> dict[str, Any]:
        """What a script reads of the board (`bourg monitor --json`): the table's facts, not
        the bookkeeping (seen sequence numbers, duplicates, last seen)."""
        return {"status": self.status, "events": self.events, "last_seq": self.last_seq,
                "boot_cause": self.boot_cause, "telemetry": self.telemetry,
                "alarms": self.alarms}


class FleetView:
    def __init__(self, site: str) -> None:
        self.site = site
        self.boards: dict[str, BoardView] = {}
        self.lock = threading.Lock()

    def on_message(self, m: Message) -> None:
        parts = m.topic.split("/")
        if len(parts) < 4 or parts[0] != "bourg" or parts[1] != self.site:
            return
        name, suffix = parts[2], "/".join(parts[3:])
        with self.lock:
            v = self.boards.setdefault(name, BoardView(name))
            v.last_seen = time.time()
            if suffix == "status":
                v.status = m.payload.decode(errors="replace")[:10]
            elif suffix.startswith("events/"):
                self._event(v, suffix[7:], m.payload)
            elif suffix == "telemetry" or suffix == "state":
                try:
                    data = json.loads(m.payload)
                except ValueError:
                    return
                if isinstance(data, dict):
                    v.telemetry.update(data)

    def _event(self, v: BoardView, kind: str, payload: bytes) -> None:
        try:
            ev = json.loads(payload)
        except ValueError:
            return
        if not isinstance(ev, dict):
            return
        seq = ev.get("seq")
        if isinstance(seq, int):
            if seq in v.seen:
                v.dups += 1
                return
            v.seen.add(seq)
            v.last_seq = max(v.last_seq, seq)
        v.events += 1
        data = ev.get("data")
        v.last_event = f"{kind} {json.dumps(data)}"[:40]
        if kind == "boot" and isinstance(data, dict):
            v.boot_cause = str(data.get("cause") or "")
        if kind.startswith("alarm") or kind == "config_error":
            v.alarms.append(f"{time.strftime('%H:%M:%S')} {v.name}: {v.last_event}")
            del v.alarms[:-5]

    def rows(self, extra: dict[str, dict[str, str]] | None = None) -> list[str]:
        """One line per board; `extra` adds columns the caller knows (e.g. the demo's
        power and WiFi state)."""
        extra = extra or {}
        cols = list(next(iter(extra.values()), {}).keys())
        head = (f"{'board':<14} " + "".join(f"{c:<9}" for c in cols) +
                f"{'mqtt':<8} {'events':>6} {'seq':>5} {'temp':>6}  {'boot':<12} last event")
        out = [head]
        with self.lock:
            names = sorted(set(self.boards) | set(extra))
            for n in names:
                v = self.boards.get(n) or BoardView(n)
                t = v.telemetry.get("temp_c")
                temp = f"{t:5.1f}C" if isinstance(t, (int, float)) else "   -  "
                ex = "".join(f"{extra.get(n, {}).get(c, ''):<9}" for c in cols)
                out.append(f"{n:<14} {ex}{v.status:<8} {v.events:>6} {v.last_seq:>5} "
                           f"{temp:>6}  {v.boot_cause:<12} {v.last_event}")
        return out

    def to_json(self) -> str:
        """Every board's summary() as one JSON object keyed by board name, taken under the
        lock so a message arriving meanwhile cannot tear it."""
        with self.lock:
            return json.dumps({n: v.summary() for n, v in sorted(self.boards.items())})

    def alarms(self) -> list[str]:
        with self.lock:
            return sorted(a for v in self.boards.values() for a in v.alarms)[-8:]
