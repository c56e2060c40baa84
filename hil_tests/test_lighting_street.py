"""Street-light poles on virtual boards with a real broker: the light runs ahead of a walker,
a dead sensor is covered by the neighbours, alarms, outages, watchdog and bad settings."""

from __future__ import annotations

import calendar
import json
import re
import time
from pathlib import Path
from typing import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from host_tools.build import fwmodules
from host_tools.emulator import World
from host_tools.field.mosquitto import Mosquitto
from host_tools.field.mqtt_watch import Watcher
from host_tools.testing.rigs.street import Pole, add_pole, pole_config, street_world, wait_level

from .fleet import events

BASE, NB, AHEAD = 10.0, 50.0, 60.0


@pytest.fixture
def street_w(tmp_path: Path) -> Iterator[World]:
    """A street in virtual time: a test's waits for the poles' timers take no real time."""
    with street_world(tmp_path / "world", clock="virtual") as w:
        yield w




def _street(world: World, broker: Mosquitto | None, n: int, **app: object) -> list[Pole]:
    poles = [add_pole(world, pole_config(f"pole-{i + 1:02d}", i * 30.0,
                                         port=broker.port if broker else 1883, **app),
                      broker) for i in range(n)]
    for p in poles:
        p.board.start()
    for p in poles:  # boot fail-safe is full light; then the night's base level
        wait_level(p, lambda v: v == BASE, 20)
    return poles


def _state(ops: Watcher, dev: str) -> dict:
    msgs = ops.on(f"/{dev}/state")
    return json.loads(msgs[-1].payload) if msgs else {}


def test_walk_lights_the_poles_ahead_and_lets_those_behind_fall_back(
        street_w: World, mosquitto: Mosquitto, ops: Watcher) -> None:
    p1, p2, p3, p4, p5 = _street(street_w, mosquitto, 5)
    # A cyclist at 10 m/s: the test's steps set the pace, so the clock is held between them.
    with street_w.hold_clock():
        # pole 1 sees it, then pole 2 three seconds later
        p1.pir.detect(True)
        wait_level(p1, lambda v: v == 100, 2)
        wait_level(p2, lambda v: v == NB, 2)  # direction still unknown: the next pole only
        assert p3.level == BASE
        street_w.step(3)  # the ride to pole 2, on the world's clock
        p1.pir.detect(False)
        p2.pir.detect(True)
        t0 = street_w.clock.now()
        wait_level(p2, lambda v: v == 100, 2)
        # Direction known now (+x at ~10 m/s -> 2 poles ahead): 3 and 4 rise, 5 does not.
        wait_level(p3, lambda v: v == AHEAD, 2)
        wait_level(p4, lambda v: v == AHEAD, 2)
        assert p5.level == BASE
        # Pole 1 is behind: its own 3 s presence hold is cut to 1 s, so it leaves full light
        # early; it keeps the neighbour level while pole 2 still sees the cyclist (a
        # direction guessed from detections can be wrong when movers cross).
        wait_level(p1, lambda v: v <= NB, 3)
        left = next(t for t, level in p1.lamp.timeline
                    if t >= t0 and round(level * 100, 1) <= NB)
        assert left - t0 < 2.5, "pole 1 held full light for its whole hold"  # by the lamp
    # The retained state says why each pole is lit.
    ops.wait_for(lambda ms: _state(ops, "pole-03").get("reason") == "neighbour", 10)
    ops.wait_for(lambda ms: _state(ops, "pole-02").get("reason") == "presence", 10)
    assert _state(ops, "pole-05").get("reason") == "base"


def test_pole_with_a_dead_sensor_is_lit_by_its_neighbours(street_w: World) -> None:
    p1, p2, p3 = _street(street_w, None, 3)
    p2.pir.dead()
    p1.pir.detect(True)
    wait_level(p2, lambda v: v >= NB, 2)
    street_w.elapse(2.5)
    with street_w.hold_clock():
        p1.pir.detect(False)
        p3.pir.detect(True)  # the walker passed pole 2 unseen
    wait_level(p3, lambda v: v == 100, 2)
    assert p2.level >= NB, "pole 2 went dark while the walker was under it"


@pytest.mark.emulator_only
def test_door_lamp_and_stuck_sensor_raise_alarms_and_clear(street_w: World,
                                                          mosquitto: Mosquitto,
                                                          ops: Watcher) -> None:
    (p,) = _street(street_w, mosquitto, 1, lamp={"settle_s": 1, "confirm_s": 2},
                   presence={"stuck_s": 10, "release_ms": 200})

    def alarms(name: str) -> list[dict]:
        return [e["data"] for e in events(ops.messages, "alarm")
                if e["data"]["alarm"] == name]

    p.door.set(False)  # the cabinet is opened: the contact to ground opens
    ops.wait_for(lambda ms: any(a["active"] for a in alarms("door_open")), 5)
    p.door.set(True)
    ops.wait_for(lambda ms: any(not a["active"] for a in alarms("door_open")), 5)

    p.current.fail("dead")
    ops.wait_for(lambda ms: any(a["active"] and a["kind"] == "no_current"
                                for a in alarms("lamp_failure")), 10)
    p.current.fail(None)
    ops.wait_for(lambda ms: any(not a["active"] for a in alarms("lamp_failure")), 10)

    p.pir.detect(True)  # and it never goes off again
    ops.wait_for(lambda ms: any(a["active"] for a in alarms("sensor_stuck")), 16)
    wait_level(p, lambda v: v == 100, 2)  # the only sensor is stuck: fail-safe level
    ops.wait_for(lambda ms: "safe" == _state(ops, "pole-01").get("mode"), 10)
    p.pir.detect(False)
    ops.wait_for(lambda ms: any(not a["active"] for a in alarms("sensor_stuck")), 5)
    wait_level(p, lambda v: v == BASE, 8)


@pytest.mark.emulator_only
def test_lamp_current_is_judged_inside_the_adcs_linear_range(street_w: World,
                                                              mosquitto: Mosquitto,
                                                              ops: Watcher) -> None:
    """At 10 % a 40 W lamp draws about 21 mA and a dead one 2 mA: on a 1 V/A burden both sit
    in the ESP32 ADC's floor (raw 0 below ~142 mV at 11 dB; read_uv() then says 142 mV) and
    the pole saw an over-current. On the offset wiring of docs/lighting.md every case reads
    right: dead -> no_current, healthy -> clear, stuck at full power -> over_current, and
    nothing else."""
    (p,) = _street(street_w, mosquitto, 1, lamp={"settle_s": 1, "confirm_s": 1})

    def lamp_events() -> list[tuple[bool, str | None]]:
        return [(e["data"]["active"], e["data"].get("kind")) for e in events(ops.messages, "alarm")
                if e["data"]["alarm"] == "lamp_failure"]

    p.current.fail("dead")
    ops.wait_for(lambda ms: (True, "no_current") in lamp_events(), 15)
    p.current.fail(None)
    ops.wait_for(lambda ms: (False, None) in lamp_events(), 10)
    p.current.fail("full")
    ops.wait_for(lambda ms: (True, "over_current") in lamp_events(), 10)
    assert lamp_events() == [(True, "no_current"), (False, None), (True, "over_current")]


@pytest.mark.emulator_only
def test_poles_stay_autonomous_offline_and_catch_up(street_w: World, mosquitto: Mosquitto,
                                                    ops: Watcher) -> None:
    p1, p2, p3 = _street(street_w, mosquitto, 3, lamp={"settle_s": 1, "confirm_s": 1})
    ops.wait_for(lambda ms: len(ops.on("/pole-03/state")) > 0, 15)
    for p in (p1, p2, p3):
        p.board.wifi_cut()
    street_w.elapse(1)
    p1.pir.detect(True)
    wait_level(p1, lambda v: v == 100, 2)
    wait_level(p2, lambda v: v == NB, 2)  # the radio wave does not need the network
    p3.door.set(False)  # an intrusion while offline is kept and sent later
    street_w.elapse(2)
    assert not any(e["data"]["alarm"] == "door_open" for e in events(ops.messages, "alarm"))
    for p in (p1, p2, p3):
        p.board.wifi_restore()
    ops.wait_for(lambda ms: any(e["data"]["alarm"] == "door_open" and e["data"]["active"]
                                for e in events(ms, "alarm")), 30)


@pytest.mark.emulator_only
def test_watchdog_reset_brings_back_the_safe_level(street_w: World) -> None:
    (p,) = _street(street_w, None, 1, safe_after_wdt_s=3)
    p.board.watchdog_reset()
    p.board.wait_boot(2, timeout=10)
    assert p.board.history[-1] == "WDT_RESET"
    wait_level(p, lambda v: v == 100, 2)
    street_w.elapse(1.5)
    assert p.level == 100, "left the safe level before safe_after_wdt_s"
    wait_level(p, lambda v: v == BASE, 8)


@pytest.mark.emulator_only
def test_reset_mcu_means_full_light(street_w: World) -> None:
    (p,) = _street(street_w, None, 1)
    p.board.power_cut()  # the MCU loses power; the driver's 0-10 V pull-up wins
    assert p.level == 100


_json = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) |
                     st.floats(allow_nan=False) | st.text(max_size=8),
                     lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6),
                                                                         c, max_size=3),
                     max_leaves=8)
_period = st.fixed_dictionaries({"name": st.text(max_size=20), "start": st.one_of(
    st.sampled_from(["sunset", "sunrise+30", "25:00", "dusk-700", "22:00"]), _json),
    "end": st.one_of(st.sampled_from(["sunrise", "05:00", "sunset"]), _json),
    "base": st.one_of(st.integers(-5, 120), _json), "presence": st.integers(-5, 120)})
_profile = st.one_of(_json, st.fixed_dictionaries({"periods": st.lists(_period, max_size=3)}),
                     st.fixed_dictionaries({"periods": st.lists(_period, min_size=1,
                                                                max_size=2),
                                            "utc_offset_min": _json}))


def test_malformed_profile_updates_get_error_replies_and_the_pole_keeps_running(
        street_w: World, mosquitto: Mosquitto, ops: Watcher) -> None:
    (p,) = _street(street_w, mosquitto, 1)
    topic = "bourg/hil/pole-01/cmd/settings"
    seen: list[bytes] = []

    @settings(max_examples=15, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(_profile)
    def send(profile: object) -> None:
        n = len(ops.on("/reply/settings"))
        payload = json.dumps({"app": {"profile": profile}})
        ops.publish(topic, payload)
        ops.wait_for(lambda ms: len(ops.on("/reply/settings")) > n, 10)
        reply = json.loads(ops.on("/reply/settings")[-1].payload)
        seen.append(ops.on("/reply/settings")[-1].payload)
        if not reply["ok"]:
            # a schema error names the key path; a payload MicroPython's json cannot read
            # (a lone surrogate escape, say) is named as such
            err = reply["error"]
            assert err.startswith("settings.json: app.profile") or \
                err.startswith("payload is not JSON"), err

    send()
    ops.publish(topic, b"{not json")
    ops.wait_for(lambda ms: b'"ok": false' in ops.on("/reply/settings")[-1].payload
                 or b'"ok":false' in ops.on("/reply/settings")[-1].payload, 10)
    # A good update is applied without a reboot: the whole night at base 40.
    good = {"periods": [{"name": "all", "start": "sunset", "end": "sunrise", "base": 40,
                         "presence": 90}], "utc_offset_min": 60, "dst": "eu"}
    ops.publish(topic, json.dumps({"app": {"profile": good}}))
    wait_level(p, lambda v: v == 40, 10)
    assert p.board.history == ["PWRON_RESET"]
    p.pir.detect(True)
    wait_level(p, lambda v: v == 90, 3)
    p.pir.detect(False)
    # A remote override with an expiry, then back to the profile.
    with street_w.hold_clock():  # the world must not skip the 3 s before they are seen
        ops.publish("bourg/hil/pole-01/cmd/override",
                    json.dumps({"level": 0, "duration_s": 3}))
        wait_level(p, lambda v: v == 0, 8)
        ops.wait_for(lambda ms: _state(ops, "pole-01").get("mode") == "override", 10)
    ops.publish("bourg/hil/pole-01/cmd/override", b'{"level": 250}')
    ops.wait_for(lambda ms: b"override.level" in ops.on("/reply/override")[-1].payload, 10)
    wait_level(p, lambda v: v == 40, 10)


@pytest.mark.emulator_only
def test_one_lying_ntp_answer_does_not_turn_the_night_into_day(street_w: World,
                                                               mosquitto: Mosquitto) -> None:
    """A pole with no light sensor knows the night from its clock alone. The town's NTP server
    answers its first question twelve hours off (noon): the pole believes no answer until two
    agree, keeps the street lit, and takes the true time."""
    cfg = pole_config("pole-ntp", 0.0, port=mosquitto.port)
    del cfg["pins"]["sda"], cfg["pins"]["scl"]  # no BH1750, no DS3231
    p = add_pole(street_w, cfg, mosquitto)
    street_w.ntp_lies(12 * 3600)
    p.board.start()
    p.board.wait_output(r"NTP sync ok: \S+Z", 30)
    assert street_w.sntp is not None and street_w.sntp.lies == []  # the lie was asked for
    out = p.board.output_text()
    assert "NTP answer held until a second one agrees (no clock yet)" in out
    iso = re.search(r"NTP sync ok: (\S+)Z", out).group(1)  # type: ignore[union-attr]
    synced = calendar.timegm(time.strptime(iso, "%Y-%m-%dT%H:%M:%S"))
    assert abs(synced - street_w.wall_time()) < 60, (iso, out)
    wait_level(p, lambda v: v == BASE, 10)  # night: the base level, never dark


@pytest.mark.emulator_only
def test_offline_pole_keeps_time_from_its_ds3231_and_energy_across_a_power_cut(
        street_w: World) -> None:
    cfg = pole_config("pole-rtc", 0.0, persist_s=10)
    cfg["network"]["ssid"] = "no-such-network"  # no NTP: only the DS3231 knows the time
    p = add_pole(street_w, cfg, rtc=True)
    p.board.start()
    p.board.wait_output("clock set from DS3231", 10)
    wait_level(p, lambda v: v == BASE, 15)  # the night period, not the lux fallback (30 %)
    street_w.elapse(11)  # one persist period
    p.board.power_cut()
    first = _record(p.board.read_flash()["/data/lighting.json"])
    assert first["epoch"] == 1 and first["meter"]["mwh"] > 0
    p.board.start()
    wait_level(p, lambda v: v == BASE, 15)
    p.board.power_cut()
    second = _record(p.board.read_flash()["/data/lighting.json"])
    # a new epoch for the radio frames (neighbours must not take them for replays), and the
    # energy counted before the cut is still there
    assert second["epoch"] == 2 and second["meter"]["mwh"] >= first["meter"]["mwh"]


@pytest.mark.emulator_only
def test_a_power_cut_never_takes_the_published_energy_counter_back(
        street_w: World, mosquitto: Mosquitto, ops: Watcher) -> None:
    """Energy reported every second, saved every minute: after a cut the pole starts from
    its last save, so what it published must never have been ahead of that."""
    cfg = pole_config("pole-01", 0.0, port=mosquitto.port, energy_ms=1000, persist_s=60)
    p = add_pole(street_w, cfg, mosquitto)
    p.board.start()
    ops.wait_for(lambda ms: len(ops.on("/pole-01/energy")) >= 1, 30)
    street_w.elapse(90)  # a save at boot and one at 60 s, reports every second
    p.board.power_cut()
    n = len(ops.on("/pole-01/energy"))
    p.board.start()
    ops.wait_for(lambda ms: len(ops.on("/pole-01/energy")) > n + 3, 60)
    wh = [json.loads(m.payload)["wh"] for m in ops.on("/pole-01/energy")]
    assert wh[n - 1] > 0, wh  # energy was counted before the cut
    assert all(b >= a for a, b in zip(wh, wh[1:], strict=False)), wh


def _record(data: bytes) -> dict:
    """The record as the board's own store reads it: its 16-byte header (whose CRC may hold
    any byte, "{" included) checked and skipped."""
    decoded = fwmodules.bourg_module("store").decode_record(data)
    assert decoded is not None, f"not a valid store record: {data[:32]!r}"
    return decoded[1]


@pytest.mark.emulator_only
def test_a_dimming_pin_that_glitches_at_boot_is_refused_with_full_light(
        street_w: World) -> None:
    cfg = pole_config("pole-bad", 0.0)
    cfg["pins"]["pwm"] = 2
    p = add_pole(street_w, cfg)
    p.board.start()
    p.board.wait_output(r"SAFE MODE: .*GPIO 2 glitches at boot", 10)
    assert p.level == 100


@pytest.mark.emulator_only
def test_pole_with_only_an_ldr_and_no_clock_follows_the_dark(street_w: World) -> None:
    cfg = pole_config("pole-ldr", 0.0, light={"sensor": "ldr"})
    cfg["pins"]["ldr_adc"] = 35
    cfg["network"]["ssid"] = "no-such-network"  # no NTP and no DS3231: no clock at all
    cfg["app"]["profile"]["lux"] = {"on_below": 20, "off_above": 50, "dwell_s": 0}
    p = add_pole(street_w, cfg, ldr_volts=0.2)  # a dark LDR: about 0.5 lux
    p.board.start()
    wait_level(p, lambda v: v == 30, 15)  # dark, no clock: the fallback base level
    src = next(d for d in p.board.devices if getattr(d, "gpio", None) == 35)
    src.volts = 3.0  # daylight on the LDR: hundreds of lux
    wait_level(p, lambda v: v == 0, 15)


def test_an_offline_pole_whose_light_sensor_fails_holds_the_safe_level(street_w: World) -> None:
    """No clock (no network, no DS3231) and the BH1750 gone from the bus in daylight: the
    pole kept its daytime level, 0, all night. Blind, it now holds the fail-safe level."""
    cfg = pole_config("pole-blind", 0.0)
    cfg["network"]["ssid"] = "no-such-network"
    cfg["app"]["profile"]["lux"] = {"on_below": 20, "off_above": 50, "dwell_s": 0}
    p = add_pole(street_w, cfg, lux=2.0)
    p.board.start()
    wait_level(p, lambda v: v == 30, 15)  # dark, no clock: the fallback base level
    p.light.lux = 500.0
    wait_level(p, lambda v: v == 0, 15)  # daylight
    p.light.sda = 99  # its wires cut: it no longer answers on the pole's bus
    wait_level(p, lambda v: v == 100, 30)
