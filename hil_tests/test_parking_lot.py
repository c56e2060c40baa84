"""Parking sensors and their totem on virtual boards with a real broker: the bays' states
reach the display and MQTT, silent sensors are flagged, forged and replayed frames are
refused, a backhaul outage is caught up, and deep sleep keeps the detector's baseline."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterator

import pytest

from host_tools.emulator import World
from host_tools.emulator.waiting import wait_until
from host_tools.field.mosquitto import Mosquitto
from host_tools.field.mqtt_watch import Watcher
from host_tools.testing.rigs.lot import (
    EARTH_UT,
    WIFI,
    add_bay,
    add_totem,
    guidance_leds,
)

from .fleet import events

LATENCY_S = 10  # the p95 latency goal, plus the radio and MQTT hops below
ZONES = {"A01": "A", "A02": "A", "B01": "B"}


@pytest.fixture
def lot_world(tmp_path: Path) -> Iterator[World]:
    """A car park in virtual time: the nodes' deep sleeps and samples take no real time.
    Field changes meant to happen at the same moment are made with the clock held."""
    with World(tmp_path / "world", access_points={WIFI[0]: WIFI[1]}, clock="virtual") as w:
        yield w




def _bay(ops: Watcher, bay: str) -> dict:
    msgs = ops.on(f"/totem-1/bay/{bay}")
    return json.loads(msgs[-1].payload) if msgs else {}


def _zone(ops: Watcher, zone: str) -> dict:
    msgs = ops.on(f"/totem-1/zone/{zone}")
    return json.loads(msgs[-1].payload) if msgs else {}


def _lot(world: World, broker: Mosquitto, **totem_app: object):
    a = add_bay(world, "ps-01", 1, "A01", 0.0, chip="qmc", heartbeat_s=10)
    b = add_bay(world, "ps-02", 2, "A02", 3.0, chip="hmc", heartbeat_s=10)
    c = add_bay(world, "ps-03", 3, "B01", 6.0, chip="qmc", heartbeat_s=10)
    totem, displays = add_totem(world, [a, b, c], ZONES, broker, heartbeat_s=10, **totem_app)
    _TOTEM.append(totem)
    totem.start()
    for x in (a, b, c):
        x.board.start()
    return a, b, c, totem, displays


_TOTEM = []


def _TOTEM_LOG() -> str:  # noqa: N802
    return "\n" + _TOTEM[-1].output_text()[-2000:] if _TOTEM else ""


def _wait_display(disp, text: str, timeout: float) -> None:
    wait_until(lambda: disp.text == text, timeout,
               lambda: f"display shows {disp.text!r}, not {text!r}{_TOTEM_LOG()}")


def _wait_leds(totem, want: list[str], timeout: float) -> None:
    leds = guidance_leds(totem)
    wait_until(lambda: leds.names() == want, timeout,
               lambda: f"guidance LEDs show {leds.names()}, not {want} "
                       f"({leds.errors} bad frames){_TOTEM_LOG()}")


def test_cars_come_and_go_on_the_display_and_in_mqtt(lot_world: World, mosquitto: Mosquitto,
                                                     ops: Watcher) -> None:
    """... and on the bays' guidance LEDs (a WS2812 strip: green free, red taken)."""
    a, b, c, totem, disp = _lot(lot_world, mosquitto, guidance=True)
    _wait_display(disp["A"], "   2", 15)  # every sensor's first heartbeat: all free
    _wait_display(disp["B"], "   1", 15)
    _wait_leds(totem, ["green", "green", "green"], 5)
    ops.wait_for(lambda ms: _zone(ops, "A").get("free") == 2, 15)
    b.park()  # the HMC5883L bay, whose data come X, Z, Y
    _wait_display(disp["A"], "   1", LATENCY_S + 5)  # a bound; make bench measures latency
    ops.wait_for(lambda ms: _zone(ops, "A") == {"free": 1, "total": 2, "silent": 0}, 5)
    ops.wait_for(lambda ms: _bay(ops, "A02").get("occupied") is True, 5)
    _wait_leds(totem, ["green", "red", "green"], 5)
    assert _bay(ops, "A02")["battery_mv"] == 2900
    assert _zone(ops, "B")["free"] == 1  # the car did not disturb the other bays
    b.park(False)
    _wait_display(disp["A"], "   2", LATENCY_S + 5)
    _wait_leds(totem, ["green", "green", "green"], 5)
    # the deep-sleep cycle kept the detector's baseline: many wakes, one arrival, one
    # departure
    assert b.board.sleeps >= 10 and b.board.history.count("DEEPSLEEP_RESET") >= 10
    ops.wait_for(lambda ms: [e["data"]["occupied"] for e in events(ms, "bay")
                             if e["data"]["bay"] == "A02"][-2:] == [True, False], 10)


def _row_of_three(world: World, a2_sample_ms: int = 1000):
    """A01 A02 A03 side by side (QMC nodes, 10 min heartbeats) and a totem that knows the
    row; returns A01, A02 and the zone's display, once it counts all three free."""
    row = [add_bay(world, f"ps-0{n}", n, f"A0{n}", 3.0 * (n - 1), chip="qmc",
                   heartbeat_s=600, sample_ms=a2_sample_ms if n == 2 else 1000)
           for n in (1, 2, 3)]
    totem, disp = add_totem(world, row, {b.bay: "A" for b in row}, heartbeat_s=600,
                            rows=[["A01", "A02", "A03"]])
    _TOTEM.append(totem)
    totem.start()
    for b in row:
        b.board.start()
    _wait_display(disp["A"], "   3", 20)
    return row[0], row[1], disp


def test_a_weak_car_a_node_cannot_place_alone_is_counted_on_the_totems_word(
        lot_world: World) -> None:
    """2.3 µT along the Earth field is what a neighbour bay's car leaves at a sensor, and
    what a weak car of the bay's own leaves too: the detector alone counts neither. The
    node asks the totem, which knows the row A01 A02 A03: with no neighbour change, A02's
    car is counted; after A01's car has just parked, the same field at A02 is not."""
    a1, a2, disp = _row_of_three(lot_world)
    n = sum(x * x for x in EARTH_UT) ** 0.5
    weak = tuple(x * (1.0 + 2.3 / n) for x in EARTH_UT)
    a2.mag.field_ut = weak
    _wait_display(disp["A"], "   2", 40)  # counted on the totem's word
    log = a2.board.output_text()
    assert "neighbours: none changed" in log and "bay occupied" in log
    a2.mag.field_ut = EARTH_UT  # the car leaves
    _wait_display(disp["A"], "   3", LATENCY_S + 5)
    mark = a2.board.console_mark()
    with lot_world.hold_clock():
        a1.park()  # a strong car in the neighbour bay; its field reaches A02 as a weak one,
        a2.mag.field_ut = weak  # at the same moment (the totem's window counts from then)
    _wait_display(disp["A"], "   2", LATENCY_S + 5)
    a2.board.wait_output("neighbours: changed", 60, start=mark)
    lot_world.elapse(10)  # time enough to count it, had the totem not explained it
    assert disp["A"].text == "   2"
    assert "bay occupied" not in a2.board.output_since(mark)


def test_a_slow_sampling_node_weighs_the_totems_answer_on_the_same_clock(
        lot_world: World) -> None:
    """A02 samples every 3 s (a config that saves battery). When A01's car parks, the weak
    field it leaves at A02 takes 12 samples, some 40 s, to settle before A02 asks the
    totem, and A01 changed some 35 s before that: a window counted in samples (12 + 15)
    would not reach back to A01's change and A02 would count the offset. The node measures
    how long its field has been calm on the clock the totem answers in. (Checked: passing
    the sample count instead makes this test fail.)"""
    a1, a2, disp = _row_of_three(lot_world, a2_sample_ms=3000)
    n = sum(x * x for x in EARTH_UT) ** 0.5
    mark = a2.board.console_mark()
    with lot_world.hold_clock():
        a1.park()
        a2.mag.field_ut = tuple(x * (1.0 + 2.3 / n) for x in EARTH_UT)
    _wait_display(disp["A"], "   2", LATENCY_S + 5)  # A01's car
    a2.board.wait_output("neighbours: changed", 120, start=mark)
    log2 = a2.board.output_since(mark)
    ago = re.search(r"neighbours: changed (\d+) s ago \(field settled (\d+) s ago\)", log2)
    assert ago, log2
    assert int(ago.group(1)) > 12 + 15  # beyond a window counted in samples
    lot_world.elapse(12)  # four samples: time enough to count it, had the totem not said
    assert "bay occupied" not in a2.board.output_since(mark)
    assert disp["A"].text == "   2"


def test_a_neighbours_manoeuvre_keeps_its_offset_from_being_counted(
        lot_world: World) -> None:
    """A car manoeuvres into A01 for 12 s. As it does, A02's sensor sees it from beside: a
    2.3 µT offset across the Earth field, which A02's detector alone counts by its turn
    within seconds, long before A01's car has settled and A01's node reports it. A01's node
    tells the totem its field is moving (the MOVING flag), so the totem's answer to A02's
    question says a neighbour changed just now and A02 does not count the offset. (Without
    the flag A02 counts it: checked by setting A01's move_ut out of reach.)"""
    a1, a2, disp = _row_of_three(lot_world)
    lot_world.elapse(3)  # a few calm samples after the boot
    e = EARTH_UT
    perp = (-e[1], e[0], 0.0)  # across the Earth field
    pn = sum(x * x for x in perp) ** 0.5
    beside = tuple(x + 2.3 * p / pn for x, p in zip(e, perp, strict=True))
    mark = a2.board.console_mark()
    for k in range(12):  # to and fro over A01's sensor
        f = (1.5, -0.8, 1.2) if k % 2 else (0.6, 0.9, 0.4)
        with lot_world.hold_clock():
            a1.mag.field_ut = tuple(x + 25.0 * c * (1 + k % 3)
                                    for x, c in zip(e, f, strict=True))
            if k == 2:
                a2.mag.field_ut = beside
        lot_world.elapse(1.0)
    a1.park()
    _wait_display(disp["A"], "   2", LATENCY_S + 5)  # A01's car, counted
    lot_world.elapse(8)
    log2 = a2.board.output_since(mark)
    assert "neighbours: changed" in log2, log2
    assert "bay occupied" not in log2 and disp["A"].text == "   2"
    assert "field moving: totem heard" in a1.board.output_text()


@pytest.mark.emulator_only
def test_a_dead_sensor_is_flagged_silent_and_not_counted_free(lot_world: World,
                                                              mosquitto: Mosquitto,
                                                              ops: Watcher) -> None:
    a, b, c, totem, disp = _lot(lot_world, mosquitto, guidance=True)
    _wait_display(disp["B"], "   1", 15)
    c.board.power_cut()  # the battery is flat
    ops.wait_for(lambda ms: _zone(ops, "B").get("silent") == 1, 40)
    assert _zone(ops, "B")["free"] == 0
    _wait_leds(totem, ["green", "green", "off"], 5)  # no driver is sent to B01
    ops.wait_for(lambda ms: _bay(ops, "B01").get("silent") is True, 5)
    c.board.start()  # a new battery: a new epoch, and the totem hears it again
    ops.wait_for(lambda ms: _zone(ops, "B") == {"free": 1, "total": 1, "silent": 0}, 20)


@pytest.mark.emulator_only
def test_a_node_powered_before_its_totem_is_counted_once_the_totem_is_up(
        lot_world: World, mosquitto: Mosquitto, ops: Watcher) -> None:
    """The whole site powers up at once and the totem boots slower than its nodes, so a
    node's first frame finds nobody listening. That frame is a REPORT, retried until acked:
    the totem counts the bay within seconds, not at the next heartbeat (10 min here)."""
    bay = add_bay(lot_world, "ps-01", 1, "A01", 0.0, chip="qmc", heartbeat_s=600)
    totem, disp = add_totem(lot_world, [bay], {"A01": "A"}, mosquitto, heartbeat_s=600)
    _TOTEM.append(totem)
    bay.board.start()
    wait_until(lambda: bay.board.sleeps >= 1, 15, "the node's first sleep")
    # its first frame has gone, unheard
    totem.start()
    _wait_display(disp["A"], "   1", 20)
    ops.wait_for(lambda ms: _zone(ops, "A") == {"free": 1, "total": 1, "silent": 0}, 10)


@pytest.mark.emulator_only
def test_forged_and_replayed_frames_are_refused(lot_world: World, mosquitto: Mosquitto,
                                                ops: Watcher) -> None:
    from host_tools.parking import fw

    reports = fw.load("reports")
    a, b, c, totem, disp = _lot(lot_world, mosquitto)
    sent: list[bytes] = []
    orig = lot_world._radio_send

    def spy(src, dst, data):  # type: ignore[no-untyped-def]
        if src is a.board:
            sent.append(bytes(data))
        return orig(src, dst, data)

    lot_world._radio_send = spy  # type: ignore[method-assign]
    _wait_display(disp["A"], "   2", 15)
    a.park()
    _wait_display(disp["A"], "   1", LATENCY_S + 5)
    occupied_frame = sent[-1]
    a.park(False)
    _wait_display(disp["A"], "   2", LATENCY_S + 5)
    ops.wait_for(lambda ms: [e["data"]["occupied"] for e in events(ms, "bay")
                             if e["data"]["bay"] == "A01"][-2:] == [True, False], 10)
    n_events = len(events(ops.messages, "bay"))

    def inject(frame: bytes) -> None:
        lot_world.call_fn(orig, a.board, b"\xff" * 6, frame)

    inject(occupied_frame)  # a replay of the genuine "occupied" report
    forged = reports.encode(bytes(16), reports.REPORT, 1, 60000, 1, reports.OCCUPIED)
    inject(forged)  # right node, wrong key, a tempting epoch
    flipped = bytearray(occupied_frame)
    flipped[8] ^= 0x40  # a newer seq, but the tag no longer matches
    inject(bytes(flipped))
    lot_world.elapse(3)
    assert disp["A"].text == "   2"
    assert _zone(ops, "A")["free"] == 2
    assert len(events(ops.messages, "bay")) == n_events


@pytest.mark.emulator_only
def test_backhaul_outage_is_caught_up(lot_world: World, mosquitto: Mosquitto,
                                      ops: Watcher) -> None:
    a, b, c, totem, disp = _lot(lot_world, mosquitto)
    ops.wait_for(lambda ms: _zone(ops, "A").get("free") == 2, 20)
    totem.wifi_cut()
    a.park()
    _wait_display(disp["A"], "   1", LATENCY_S + 5)  # the display does not need the network
    c.park()
    _wait_display(disp["B"], "   0", LATENCY_S + 5)
    assert _zone(ops, "A")["free"] == 2  # the broker has not heard yet
    totem.wifi_restore()
    ops.wait_for(lambda ms: _zone(ops, "A").get("free") == 1 and
                 _zone(ops, "B").get("free") == 0, 30)
    # the change events queued on the totem's flash arrive too, in order
    ops.wait_for(lambda ms: {("A01", True), ("B01", True)} <=
                 {(e["data"]["bay"], e["data"]["occupied"]) for e in events(ms, "bay")}, 30)


@pytest.mark.emulator_only
def test_a_wake_on_change_bay_sleeps_until_the_field_moves(lot_world: World,
                                                           mosquitto: Mosquitto,
                                                           ops: Watcher) -> None:
    """A LIS2MDL bay: the chip watches the field while the ESP32 is in deep sleep, and its
    threshold interrupt (ext1) wakes the node when a car comes or goes."""
    bay = add_bay(lot_world, "ps-lis", 7, "C01", 0.0, chip="lis", heartbeat_s=60)
    totem, disp = add_totem(lot_world, [bay], {"C01": "C"}, mosquitto, heartbeat_s=60)
    _TOTEM.append(totem)
    totem.start()
    bay.board.start()
    _wait_display(disp["C"], "   1", 15)
    board = bay.board
    wait_until(lambda: board.sleeps >= 1, 15, lambda: board.output_text()[-1500:])
    assert board.sleeps == 1, board.output_text()[-1500:]  # armed after a few samples
    lot_world.elapse(5)
    assert board.sleeps == 1 and board.state == "sleeping"  # nothing moved: no wake at all
    bay.park()
    _wait_display(disp["C"], "   0", LATENCY_S + 5)
    assert board.wakes.get(3, 0) == 1 and bay.mag.interrupts >= 1  # EXT1_WAKE
    ops.wait_for(lambda ms: _bay(ops, "C01").get("occupied") is True, 10)
    # it follows while the car settles (gate settle_s), then sleeps
    wait_until(lambda: board.sleeps >= 2, 60, lambda: board.output_text()[-1500:])
    assert board.sleeps == 2 and board.light_sleeps >= 15
    lot_world.elapse(4)
    assert board.sleeps == 2 and board.state == "sleeping"  # parked and steady: asleep
    bay.park(False)
    _wait_display(disp["C"], "   1", LATENCY_S + 5)
    assert board.wakes.get(3, 0) == 2
    ops.wait_for(lambda ms: [e["data"]["occupied"] for e in events(ms, "bay")
                             if e["data"]["bay"] == "C01"][-2:] == [True, False], 10)
    assert "Traceback" not in board.output_text()


def test_staff_recalibrate_a_bay_known_empty(lot_world: World, mosquitto: Mosquitto,
                                            ops: Watcher) -> None:
    """A node powered on over a parked car takes the car for the empty bay, so once the car
    has gone it reports the bay occupied. Staff who see it empty send cmd/recalibrate: the
    totem asks in the ACK to the node's next frame, the node takes its field as the empty
    bay, the display counts the bay free again and MQTT gets the confirmation."""
    bay = add_bay(lot_world, "ps-01", 1, "A01", 0.0, chip="qmc", heartbeat_s=10)
    totem, disp = add_totem(lot_world, [bay], {"A01": "A"}, mosquitto, heartbeat_s=10)
    _TOTEM.append(totem)
    bay.park()  # installed (or its battery changed) with a car over it
    totem.start()
    bay.board.start()
    _wait_display(disp["A"], "   1", 20)  # the car is its baseline: "free"
    bay.park(False)
    _wait_display(disp["A"], "   0", LATENCY_S + 5)  # the car leaves: "occupied"
    cmd = "bourg/hil/totem-1/cmd/recalibrate"

    def replies(ms: list) -> list[dict]:
        return [json.loads(m.payload) for m in ms if m.topic.endswith("/reply/recalibrate")]

    ops.publish(cmd, json.dumps({"bay": "Z99"}))
    ops.wait_for(lambda ms: any(r.get("ok") is False and "Z99" in r.get("error", "")
                                for r in replies(ms)), 10)
    ops.publish(cmd, b"not json")
    ops.wait_for(lambda ms: len(replies(ms)) == 2 and replies(ms)[1]["ok"] is False, 10)
    assert disp["A"].text == "   0"  # refused requests changed nothing
    ops.publish(cmd, json.dumps({"bay": "A01"}))
    ops.wait_for(lambda ms: {"ok": True, "bay": "A01", "pending": True} in replies(ms), 10)
    _wait_display(disp["A"], "   1", 10 + LATENCY_S)  # at the node's next heartbeat
    ops.wait_for(lambda ms: [e["data"] for e in events(ms, "recalibrated")] == [{"bay": "A01"}],
                 10)
    ops.wait_for(lambda ms: _bay(ops, "A01").get("occupied") is False, 5)
    bay.board.wait_output("recalibrated on request", 1)
    bay.park()  # and the new baseline holds: the next car is seen as a car
    _wait_display(disp["A"], "   0", LATENCY_S + 5)
    assert "Traceback" not in bay.board.output_text() + totem.output_text()


@pytest.mark.emulator_only
@pytest.mark.parametrize("guidance,error", [
    ({"pin": 23, "bays": ["A01", "Z9"]}, "app.guidance.bays[1]: no bay 'Z9' in app.bays"),
    ({"pin": 7, "bays": ["A01"]}, "app.guidance.pin: GPIO 7 drives the SPI flash"),
])
def test_a_totem_with_a_bad_guidance_config_says_which_key(lot_world: World, guidance: dict,
                                                           error: str) -> None:
    bay = add_bay(lot_world, "ps-01", 1, "A01", 0.0)
    totem, _ = add_totem(lot_world, [bay], {"A01": "A"}, guidance=guidance)
    totem.start()
    totem.wait_output("SAFE MODE", 10)
    totem.wait_output(re.escape("config.json: " + error), 5)
