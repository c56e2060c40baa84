"""What the console takes from a message, and what it refuses with a reason."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bourg_console.topics import (
    MAX_PAYLOAD,
    BayState,
    Event,
    Malformed,
    Skipped,
    State,
    Status,
    ZoneState,
    parse,
)

P = "bourg/town/totem-1/"


def _j(d: object) -> bytes:
    return json.dumps(d).encode()


def test_each_kind_of_message_the_fleet_sends() -> None:
    assert parse(P + "status", b"online") == Status("town", "totem-1", True)
    assert parse(P + "status", b"offline") == Status("town", "totem-1", False)
    ev = parse(P + "events/bay", _j({"seq": 7, "kind": "bay", "t": 1700000000,
                                     "data": {"bay": "A01", "occupied": True}}))
    assert ev == Event("town", "totem-1", "bay", 7, 1700000000,
                       {"bay": "A01", "occupied": True}, 0)
    assert parse(P + "events/log", _j({"seq": 1, "kind": "log", "t": None, "data": {},
                                       "dropped": 3})).dropped == 3
    assert parse(P + "info", _j({"fw": "1.0"})) == State("town", "totem-1", "info",
                                                         {"fw": "1.0"})
    assert parse(P + "reply/status", _j({"ok": True})).suffix == "reply/status"
    assert parse(P + "zone/A", _j({"free": 1, "total": 2, "silent": 1})) == \
        ZoneState("town", "totem-1", "A", 1, 2, 1)
    bay = parse(P + "bay/A01", _j({"bay": "A01", "zone": "A", "occupied": None,
                                   "silent": True, "battery_mv": None, "health": None,
                                   "confidence": None}))
    assert isinstance(bay, BayState) and bay.occupied is None and bay.silent
    assert parse(P + "cmd/recalibrate", b"{}") == Skipped()


@pytest.mark.parametrize("topic, payload, reason", [
    ("other/town/x/status", b"online", "not bourg/"),
    ("bourg/town/status", b"online", "not bourg/"),
    ("bourg/to wn/x/status", b"online", "site name"),
    ("bourg/town/" + "x" * 33 + "/status", b"online", "device name"),
    (P + "status", b"maybe", "neither online nor offline"),
    (P + "events/bay", b"{not json", "not JSON"),
    (P + "events/bay", b"\xff\xfe", "not JSON"),
    (P + "events/bay", b"[1, 2]", "not an object"),
    (P + "events/bay", _j({"seq": 1, "kind": "log"}), "differs from its topic"),
    (P + "events/bay", _j({"seq": -1, "kind": "bay"}), "seq must be"),
    (P + "events/bay", _j({"seq": True, "kind": "bay"}), "seq must be"),
    (P + "events/bay", _j({"seq": 1, "kind": "bay", "data": [1]}), "data is not an object"),
    (P + "zone/A", _j({"free": 3, "total": 2, "silent": 0}), "free must be"),
    (P + "zone/A", _j({"free": 2, "total": 2, "silent": 1}), "more than total"),
    (P + "bay/A01", _j({"bay": "A02", "zone": "A", "occupied": True, "silent": False}),
     "differs from its payload"),
    (P + "bay/A01", _j({"bay": "A01", "zone": "A", "occupied": "yes", "silent": False}),
     "occupied must be"),
    (P + "bay/A01", _j({"bay": "A01", "zone": "A", "occupied": True, "silent": False,
                        "health": float("nan")}), "health must be"),
    (P + "bay/A01", b'{"bay": "A01", "zone": "A", "occupied": true, "silent": false, '
                    b'"battery_mv": Infinity}', "battery_mv must be"),
    (P + "bay/A01", _j({"bay": "A01", "zone": "A", "occupied": True, "silent": False,
                        "confidence": 101}), "confidence must be"),
    (P + "events/bay", _j({"seq": 1, "kind": "bay", "t": 2**40}), "t must be"),
    (P + "telemetry/extra", b"{}", "unknown topic suffix"),
    (P + "info", b"x" * (MAX_PAYLOAD + 1), "over"),
])
def test_a_bad_message_is_refused_with_its_reason(topic: str, payload: bytes,
                                                  reason: str) -> None:
    with pytest.raises(Malformed, match=reason):
        parse(topic, payload)


@given(st.text(max_size=80), st.binary(max_size=200))
def test_anything_at_all_is_an_observation_or_a_refusal(topic: str, payload: bytes) -> None:
    try:
        parse(topic, payload)
    except Malformed:
        pass


@given(st.sampled_from(["status", "events/bay", "bay/A01", "zone/A", "info", "reply/x"]),
       st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                    lambda c: st.lists(c) | st.dictionaries(st.text(max_size=8), c),
                    max_leaves=10))
def test_any_json_on_a_known_topic_is_an_observation_or_a_refusal(suffix: str,
                                                                   value: object) -> None:
    try:
        parse(P + suffix, json.dumps(value).encode())
    except Malformed:
        pass


def test_every_state_and_event_the_firmware_publishes_is_taken() -> None:
    """Read from the firmware's source: each publish_state suffix and publish_event kind is
    an observation, not a refusal (a console that refused `energy` would show no energy)."""
    import re
    from pathlib import Path

    fw = Path(__file__).resolve().parents[1] / "firmware"
    text = "\n".join(p.read_text() for p in fw.rglob("*.py"))
    states = set(re.findall(r'publish_state\("([a-z_]+)"', text))
    kinds = set(re.findall(r'publish_event\("([a-z_]+)"', text))
    assert {"info", "state", "energy", "alarms", "compartments"} <= states
    assert {"alarm", "boot", "bay", "audit", "traffic"} <= kinds
    for s in states:
        assert isinstance(parse(P + s, b"{}"), State), s
    for k in kinds:
        ev = parse(P + "events/" + k, _j({"seq": 1, "kind": k, "t": None, "data": {}}))
        assert isinstance(ev, Event), k
