"""What one MQTT message from the fleet says, or why it is refused: pure, no I/O.

Topics follow docs/runtime.md: `bourg/<site>/<device>/<suffix>`, where suffix is `status`
(`online`/`offline`), `events/<kind>` (`{"seq", "kind", "t", "data"[, "dropped"]}`), a
retained state (any one-word suffix: `info`, `state`, `energy`, `alarms`, `compartments`,
and a newer firmware's too), a totem's `bay/<bay>` and `zone/<zone>`, or `reply/<name>`.
Commands (`cmd/...`) are the console's own words, not the fleet's, and are skipped. Anything
else is `Malformed`: the ingest counts it, logs it and goes on, so one bad board never stops
the others being heard."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

# a device or site name, as the board's config checker allows (docs/runtime.md)
NAME = re.compile(r"[A-Za-z0-9_.\-]{1,32}\Z")
MAX_PAYLOAD = 16 * 1024  # a board's largest payload is a few hundred bytes
MAX_TIME = 2**35  # a board's unix time, up to the year 3058: past 2038, short of overflow


class Malformed(ValueError):
    """A message the console cannot take, with the reason it gives in its log."""


@dataclass(frozen=True)
class Status:
    site: str
    device: str
    online: bool


@dataclass(frozen=True)
class Event:
    site: str
    device: str
    kind: str
    seq: int
    t: int | None  # the board's unix time, None before its clock was set
    data: dict[str, Any]
    dropped: int  # events the board lost to its queue bound just before this one


@dataclass(frozen=True)
class State:
    """A retained state or a reply: the latest wins."""

    site: str
    device: str
    suffix: str
    data: dict[str, Any]


@dataclass(frozen=True)
class BayState:
    site: str
    totem: str
    bay: str
    zone: str
    occupied: bool | None  # None: the totem has not heard the bay's node yet
    silent: bool
    battery_mv: int | None
    health: float | None
    confidence: float | None


@dataclass(frozen=True)
class ZoneState:
    site: str
    totem: str
    zone: str
    free: int
    total: int
    silent: int


@dataclass(frozen=True)
class Skipped:
    """A message that is not the fleet's to report (a command)."""


Observation = Status | Event | State | BayState | ZoneState | Skipped


def parse(topic: str, payload: bytes) -> Observation:
    """The observation in one message; Malformed with a reason otherwise."""
    parts = topic.split("/")
    if len(parts) < 4 or parts[0] != "bourg":
        raise Malformed("topic is not bourg/<site>/<device>/...")
    site, device, suffix = parts[1], parts[2], parts[3:]
    for what, name in (("site", site), ("device", device)):
        if not NAME.match(name):
            raise Malformed(f"{what} name {name[:40]!r} is not 1..32 of A-Z a-z 0-9 _ . -")
    if len(payload) > MAX_PAYLOAD:
        raise Malformed(f"payload of {len(payload)} bytes is over {MAX_PAYLOAD}")
    head = suffix[0]
    if head == "cmd":
        return Skipped()
    if suffix == ["status"]:
        return _status(site, device, payload)
    if head == "events" and len(suffix) == 2:
        return _event(site, device, suffix[1], payload)
    if head == "bay" and len(suffix) == 2:
        return _bay(site, device, suffix[1], _json_object(payload))
    if head == "zone" and len(suffix) == 2:
        return _zone(site, device, suffix[1], _json_object(payload))
    if (len(suffix) == 1 and NAME.match(head)) or (head == "reply" and len(suffix) == 2
                                                    and NAME.match(suffix[1])):
        return State(site, device, "/".join(suffix), _json_object(payload))
    raise Malformed(f"unknown topic suffix {'/'.join(suffix)[:40]!r}")


def _json_object(payload: bytes) -> dict[str, Any]:
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as e:
        raise Malformed(f"payload is not JSON ({e.__class__.__name__})") from None
    if not isinstance(data, dict):
        raise Malformed(f"payload is a JSON {type(data).__name__}, not an object")
    return data


def _status(site: str, device: str, payload: bytes) -> Status:
    if payload not in (b"online", b"offline"):
        raise Malformed(f"status {payload[:20]!r} is neither online nor offline")
    return Status(site, device, payload == b"online")


def _int(data: dict[str, Any], key: str, low: int = 0, high: int = 2**53) -> int:
    v = data.get(key)
    if not isinstance(v, int) or isinstance(v, bool) or not low <= v <= high:
        raise Malformed(f"{key} must be an integer {low}..{high}, got {str(v)[:20]!r}")
    return v


def _opt_number(data: dict[str, Any], key: str, low: float, high: float) -> float | None:
    v = data.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or not low <= v <= high:
        raise Malformed(f"{key} must be a number {low:g}..{high:g}, got {str(v)[:20]!r}")
    return v


def _bool(data: dict[str, Any], key: str) -> bool:
    v = data.get(key)
    if not isinstance(v, bool):
        raise Malformed(f"{key} must be true or false, got {str(v)[:20]!r}")
    return v


def _event(site: str, device: str, kind: str, payload: bytes) -> Event:
    if not NAME.match(kind):
        raise Malformed(f"event kind {kind[:40]!r} is not a name")
    ev = _json_object(payload)
    if ev.get("kind") != kind:
        raise Malformed(f"event kind {str(ev.get('kind'))[:20]!r} differs from its topic's")
    t = ev.get("t")
    if t is not None:
        t = _int(ev, "t", 0, MAX_TIME)
    data = ev.get("data")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise Malformed("event data is not an object")
    dropped = _int(ev, "dropped") if "dropped" in ev else 0
    return Event(site, device, kind, _int(ev, "seq", 0, 2**62), t, data, dropped)


def _bay(site: str, totem: str, bay: str, data: dict[str, Any]) -> BayState:
    if not NAME.match(bay) or data.get("bay") != bay:
        raise Malformed(f"bay {bay[:40]!r} is not a name or differs from its payload's")
    zone = data.get("zone")
    if not isinstance(zone, str) or not NAME.match(zone):
        raise Malformed(f"zone {str(zone)[:40]!r} is not a name")
    # as the node's frame carries them (parking_sensor/reports.py): mV, and percents
    mv = _opt_number(data, "battery_mv", 0, 65535)
    occupied = None if data.get("occupied") is None else _bool(data, "occupied")
    return BayState(site, totem, bay, zone, occupied, _bool(data, "silent"),
                    None if mv is None else int(mv), _opt_number(data, "health", 0, 100),
                    _opt_number(data, "confidence", 0, 100))


def _zone(site: str, totem: str, zone: str, data: dict[str, Any]) -> ZoneState:
    if not NAME.match(zone):
        raise Malformed(f"zone {zone[:40]!r} is not a name")
    total = _int(data, "total", 0, 10000)
    free, silent = _int(data, "free", 0, total), _int(data, "silent", 0, total)
    if free + silent > total:
        raise Malformed(f"free {free} and silent {silent} are more than total {total}")
    return ZoneState(site, totem, zone, free, total, silent)
