"""Which alarms an observation raises or clears, and which boards are overdue: pure.

Kinds of alarm:
- a board's own (`events/alarm` `{"alarm": name, "active": bool, ...}`: a pole's
  lamp_failure, door_open, day_burning, sensor_stuck; a locker's forced door, door left open,
  cold chain...), kept in step with its retained `alarms` state `{"active": [names]}`, which
  a (re)subscription brings again, so an alarm cleared while the console was away is cleared
  here too;
- SAFE_MODE: the board's retained `state` says `{"mode": "safe", "error": ...}` (the
  runtime's safe mode: docs/runtime.md); cleared when its `info` says `"mode": "normal"` (it
  booted its app again). A pole's own `state` also has a `mode`, its light's (auto,
  override, safe: full light while it cannot trust its inputs), and no `error`: that is
  not the board's safe mode;
- OFFLINE: the broker published the board's will (`status` offline), or the board has not
  answered `missed` status polls in a row (heartbeat.py); cleared by the next message the
  board itself sends (never a retained copy the broker hands out on a subscription).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bourg_console.topics import Event, Observation, State, Status

OFFLINE, SAFE_MODE = "offline", "safe_mode"
CONSOLE_KINDS = (OFFLINE, SAFE_MODE)  # raised by the console; the rest by the boards
OVERSTAY = "overstay:"  # + the bay: a vehicle past its zone's maximum stay (parking.py)


def is_console_kind(kind: str) -> bool:
    """An alarm the console raises itself, which no board's list of alarms may clear."""
    return kind in CONSOLE_KINDS or kind.startswith(OVERSTAY)


@dataclass(frozen=True)
class Raise:
    kind: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Clear:
    kind: str


@dataclass(frozen=True)
class Sync:
    """The board's whole list of standing alarms: raise the missing, clear the rest of its
    own kinds."""

    active: tuple[str, ...]


Change = Raise | Clear | Sync


def is_safe_mode(st: State) -> bool:
    """The runtime's safe-mode state, not a pole's light in its fail-safe level."""
    return st.suffix == "state" and st.data.get("mode") == "safe" and "error" in st.data


def changes(obs: Observation, retained: bool) -> list[Change]:
    out: list[Change] = []
    if not retained and not (isinstance(obs, Status) and not obs.online):
        out.append(Clear(OFFLINE))  # the board itself spoke
    if isinstance(obs, Status) and not obs.online:
        out.append(Raise(OFFLINE, {"reason": "the broker lost the board (its last will)"}))
    elif isinstance(obs, Event) and obs.kind == "alarm":
        name = obs.data.get("alarm")
        if isinstance(name, str) and 0 < len(name) <= 64 and not is_console_kind(name):
            active = obs.data.get("active") is not False
            detail = {k: v for k, v in obs.data.items() if k not in ("alarm", "active")}
            out.append(Raise(name, detail) if active else Clear(name))
    elif isinstance(obs, State) and obs.suffix == "alarms":
        active = obs.data.get("active")
        if isinstance(active, list) and all(isinstance(a, str) and 0 < len(a) <= 64
                                            for a in active):
            out.append(Sync(tuple(a for a in active if not is_console_kind(a))))
    elif isinstance(obs, State) and is_safe_mode(obs):
        out.append(Raise(SAFE_MODE, {"error": str(obs.data.get("error", ""))[:500]}))
    elif isinstance(obs, State) and obs.suffix == "info" and obs.data.get("mode") == "normal":
        out.append(Clear(SAFE_MODE))
    return out


def overdue(last_seen: float, now: float, poll_s: float, missed: int) -> bool:
    """True once a board polled every `poll_s` has let `missed` polls in a row go by: it was
    last heard more than `missed` periods ago. Checked at each poll, so the alarm is raised
    at most one period after that."""
    return now - last_seen > missed * poll_s
