"""The pole app's pure modules: presence inputs, energy and traffic, lamp watch, schedule and
local time, and the Pole core that ties them to the dimmer and the wave."""

import calendar

from hypothesis import given, settings
from hypothesis import strategies as st

from host_tools.field.registry import Registry
from host_tools.lighting import fw

presence = fw.load("presence")
energy = fw.load("energy")
lampwatch = fw.load("lampwatch")
tzrule = fw.load("tzrule")
schedule = fw.load("schedule")
pole = fw.load("pole")
nightprofile = fw.load("nightprofile")
profilecheck = fw.load("profilecheck")
frames = fw.load("frames")

APP = {
    "x_m": 30.0,
    "entry_level": 0,
    "dimmer": {"ramp_up_ms": 250, "ramp_down_ms": 3000, "hold_ms": 15000, "safe_level": 100},
    "wave": {"nb_hops": 1, "nb_level": 50, "ahead_level": 60, "spacing_m": 30.0,
             "lead_s": 4.0, "max_hops": 3},
    "presence": {"confirm_ms": 10, "release_ms": 500, "stuck_s": 60},
    "lamp": {"rated_w": 40.0, "standby_w": 0.5, "mains_v": 230.0, "pf": 0.95, "tol_pct": 30,
             "min_a": 0.005, "day_burn_s": 600, "settle_s": 5, "confirm_s": 10},
}
KEY = bytes(range(16))


def test_presence_filters_spikes_and_chatter():
    p = presence.Presence(1, confirm_ms=10, release_ms=500)
    p.edge(0, 1, 0)
    p.edge(0, 0, 5)  # a 5 ms spike
    assert p.update(20) == [] and not p.active()
    p.edge(0, 1, 100)
    assert p.update(110) == [(0, "on")] and p.active()
    p.edge(0, 0, 200)
    p.edge(0, 1, 400)  # chatter at the end of a detection
    assert p.update(800) == [] and p.active()
    p.edge(0, 0, 900)
    assert p.update(1300) == []
    assert p.update(1400) == [(0, "off")]
    assert p.detections == 1


def test_a_stuck_input_is_ignored_while_the_other_still_counts():
    p = presence.Presence(2, confirm_ms=0, release_ms=0, stuck_ms=1000)
    p.edge(0, 1, 0)
    p.update(0)
    assert p.update(1000) == [(0, "stuck")]
    assert not p.active() and not p.all_stuck()
    p.edge(1, 1, 1100)
    assert p.update(1100) == [(1, "on")] and p.active()
    p.edge(0, 0, 1200)
    assert p.update(1200) == [(0, "off"), (0, "unstuck")]


@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 3000)), max_size=40))
def test_presence_never_reports_twice_the_same_state(edges):
    p = presence.Presence(1, confirm_ms=10, release_ms=200, stuck_ms=0)
    t, on = 0, False
    for level, dt in edges:
        t += dt
        p.edge(0, level, t)
        for _i, what in p.update(t):
            assert what == ("off" if on else "on")
            on = not on
        assert p.active() == on


def test_meter_integrates_power_and_counts_switch_ons_and_burn_hours():
    m = energy.Meter(40.0, 0.5)
    m.advance(0, 0)
    m.advance(100, 3600_000)  # 1 h at standby
    m.advance(50, 7200_000)  # 1 h at 100 %
    m.advance(0, 10800_000)  # 1 h at 50 %
    assert m.mwh == 500 + 40500 + 20500
    assert m.switch_ons == 1 and m.burn_s == 7200
    again = energy.Meter(40.0, 0.5, m.to_dict())  # persisted across a reboot
    assert again.to_dict() == m.to_dict()
    old = energy.Meter(40.0, 0.5, {"wh": 61.5, "burn_s": 7200.4, "switch_ons": 1})
    assert (old.mwh, old.burn_s, old.switch_ons) == (61500, 7200, 1)  # a float-era state


def _f32(x):
    """x rounded to the ESP32 port's single-precision float."""
    import struct

    return struct.unpack("f", struct.pack("f", x))[0]


def test_meter_counts_two_years_exactly_where_a_single_precision_float_drifts():
    """Two years of 12 h nights at 100 % of a 40 W lamp, advanced every energy_ms (60 s by
    default): the integer counters are exact; the float Wh the meter had would be 0.24 % off
    on the chip (6 % with 5 s steps: each level change is a step too)."""
    m = energy.Meter(40.0, 0.5)
    step_ms, steps = 60000, 2 * 365 * 12 * 60
    m.advance(100, 0)
    for i in range(1, steps + 1):
        m.advance(100, i * step_ms)
    assert m.mwh == 40500 * steps * step_ms // 3600000
    assert m.burn_s == steps * step_ms // 1000
    f32, step_wh = 0.0, _f32(40.5 * step_ms / 3600000)
    for _ in range(steps):
        f32 = _f32(f32 + step_wh)
    assert abs(f32 - m.wh) / m.wh > 0.002


def test_traffic_counts_per_hour():
    t = energy.Traffic(keep=2)
    assert t.add(10) is None
    t.add(10)
    assert t.add(11) == (10, 2)
    assert t.roll(13) == (11, 1)
    assert t.done == [(10, 2), (11, 1)]


def test_lamp_check_needs_a_steady_output_and_a_lasting_fault():
    c = lampwatch.LampCheck(settle_ms=1000, confirm_ms=2000)
    ok = c.expected_a(100)
    assert c.update(100, 0.0, 500, 0) is None  # still ramping/settling
    assert c.update(100, 0.0, 1500, 1000) is None
    assert c.update(100, 0.0, 3500, 3000) == "no_current"
    assert c.update(100, ok, 4000, 3500) is None
    assert c.update(100, ok, 6000, 5500) == ""
    assert c.fault is None
    assert c.update(0, ok, 9000, 9000) is None
    assert c.update(0, ok, 12000, 12000) == "over_current"  # drawing power when off


def test_day_burning_after_the_delay_only():
    d = lampwatch.DayBurn(on_a=0.05, delay_ms=1000)
    assert d.update(0.2, True, 0) is None
    assert d.update(0.2, True, 999) is None
    assert d.update(0.2, True, 1000) is True
    assert d.update(0.2, False, 2000) is False
    assert d.update(0.01, True, 3000) is None


def _unix(y, mo, d, h, mi):
    return calendar.timegm((y, mo, d, h, mi, 0, 0, 0, 0))


def test_eu_summer_time_switches_on_the_last_sundays():
    assert not tzrule.dst_active("eu", _unix(2026, 3, 29, 0, 59))
    assert tzrule.dst_active("eu", _unix(2026, 3, 29, 1, 0))
    assert tzrule.dst_active("eu", _unix(2026, 10, 25, 0, 59))
    assert not tzrule.dst_active("eu", _unix(2026, 10, 25, 1, 0))
    assert tzrule.local(_unix(2026, 7, 1, 22, 30), 60, "eu") == (2026, 7, 2, 30)
    assert not tzrule.dst_active("none", _unix(2026, 7, 1, 12, 0))


@given(st.integers(-800000, 800000))
def test_civil_days_round_trip(z):
    y, m, d = tzrule.civil_from_days(z)
    assert tzrule.days_from_civil(y, m, d) == z


PROFILE = {"utc_offset_min": 60, "dst": "eu", "periods": [
    {"name": "evening", "start": "sunset", "end": "23:00", "base": 20, "presence": 100},
    {"name": "night", "start": "23:00", "end": "05:30", "base": 0, "presence": 80},
    {"name": "morning", "start": "05:30", "end": "sunrise", "base": 20, "presence": 100}]}


def test_schedule_follows_paris_sunset_and_the_night_periods():
    s = schedule.Schedule(profilecheck.validate(PROFILE), 48.8566, 2.3522)
    # Paris, 22 Nov 2026: sunset 17:00 CET, sunrise 08:1x CET
    assert s.lookup(_unix(2026, 11, 22, 15, 0)) is None  # 16:00 local: day
    assert s.lookup(_unix(2026, 11, 22, 16, 30))[2] == "evening"
    assert 16 * 60 + 50 <= s.sunset <= 17 * 60 + 5
    assert s.lookup(_unix(2026, 11, 22, 23, 0))[2] == "night"  # 00:00 local
    assert s.lookup(_unix(2026, 11, 23, 5, 0))[2] == "morning"  # 06:00 local
    assert s.lookup(_unix(2026, 11, 23, 8, 0)) is None  # 09:00 local: day


def test_the_night_of_a_summer_time_change_ends_at_the_sunrise_of_the_new_offset():
    """Paris, 29 March 2026: clocks go from +60 to +120 at 01:00 UTC. Resolved in the
    evening with +60, the night kept a sunrise an hour early in local time and the pole was
    dark from 04:36 to 05:35 UTC, before civil dawn; in October the mirror image burnt the
    lamp an hour into daylight."""
    for evening, mornings in (((2026, 3, 28, 19, 0), [(2026, 3, 29, 4, 40), (2026, 3, 29, 5, 0)]),
                              ((2026, 10, 24, 19, 0), [(2026, 10, 25, 7, 0)])):
        s = schedule.Schedule(profilecheck.validate(PROFILE), 48.85, 2.35)
        s.lookup(_unix(*evening))
        for m in mornings:
            fresh = schedule.Schedule(profilecheck.validate(PROFILE), 48.85, 2.35)
            assert s.lookup(_unix(*m)) == fresh.lookup(_unix(*m)), m
    s = schedule.Schedule(profilecheck.validate(PROFILE), 48.85, 2.35)
    s.lookup(_unix(2026, 3, 28, 19, 0))
    assert s.lookup(_unix(2026, 3, 29, 4, 40))[2] == "morning"  # sunrise is 07:3x CEST


def test_schedule_at_polar_night_lights_all_day():
    s = schedule.Schedule(profilecheck.validate(PROFILE), 78.22, 15.65)  # Longyearbyen
    assert s.lookup(_unix(2026, 12, 21, 11, 0)) is not None


def _pole(now=0, n=1):
    mac = bytes([0x24, 0x0A, 0xC4, 0, 0, 2])
    return pole.Pole(APP, mac, KEY, 1, now, None, n)


def test_pole_boots_safe_then_follows_presence_and_counts():
    p = _pole()
    assert p.level(0) == 100 and p.state(0)["mode"] == "safe"
    p.levels(10, 100, 0)
    p.ready(0)
    p.step(5000)
    assert p.level(5000) == 10 and p.state(5000)["reason"] == "base"
    p.clock(100)
    p.sensor(0, 1, 6000)
    p.step(6010)
    tx = p.take_tx()
    assert len(tx) == 1 and frames.decode(KEY, tx[0])["type"] == frames.PRESENCE
    p.step(6300)
    assert p.level(6300) == 100 and p.meter.switch_ons == 0
    p.clock(101)
    assert p.take_traffic() == [(100, 1)]


def test_pole_raises_and_clears_alarms():
    p = _pole()
    p.levels(10, 100, 0)
    p.ready(0)
    p.step(0)
    p.door(True, 10)
    p.door(True, 20)
    assert p.take_alarms() == [("door_open", True, {"open": True})]
    for t in range(6000, 20000, 1000):
        p.lamp_sample(0.0, False, t)
    (name, active, detail), = p.take_alarms()
    assert (name, active, detail["kind"]) == ("lamp_failure", True, "no_current")
    assert p.state(20000)["alarms"] == ["door_open", "lamp_failure"]


def test_stuck_sensor_means_safe_level_and_an_alarm():
    p = _pole()
    p.levels(10, 100, 0)
    p.ready(0)
    p.sensor(0, 1, 1000)
    assert p.next_ms(1000) == 1010
    p.step(1010)
    p.step(61010)
    assert ("sensor_stuck", True, {"input": 0}) in p.take_alarms()
    assert p.state(61010)["mode"] == "safe" and p.dim.target == 100


def test_entry_pole_idles_at_entry_level_only_while_the_street_is_lit():
    mac = bytes([0x24, 0x0A, 0xC4, 0, 0, 3])
    p = pole.Pole(dict(APP, entry_level=50), mac, KEY, 1, 0, None, 1)
    p.levels(0, 90, 0)
    p.ready(0)
    assert p.step(10000) == 50 and p.state(10000)["reason"] == "base"
    p.sensor(0, 1, 11000)
    p.step(11010)  # confirm_ms
    assert p.step(11300) == 90
    p.levels(0, 0, 12000, dark=False)  # day: the lamp goes off
    p.sensor(0, 0, 12000)
    assert p.step(60000) == 0


def test_entry_level_is_a_checked_setting():
    import json

    from host_tools.field.boardconfig import REPO, BoardConfigError, validate

    cfg = json.loads((REPO / "board_configs" / "pole-01.json").read_text())
    cfg["app"]["entry_level"] = 50
    validate(cfg)
    cfg["app"]["entry_level"] = 101
    try:
        validate(cfg, "pole.json")
    except BoardConfigError as e:
        assert e.problems == [("app.entry_level", "expected num 0..100, got 101")]
    else:
        raise AssertionError("entry_level 101 accepted")


def test_the_fail_safe_level_cannot_be_set_dark():
    """safe_level is what a pole shows whenever it cannot trust its inputs; 0 (by a deploy or
    a remote settings patch, which is checked against the same schema) would make every
    fail-safe state dark."""
    import json

    import pytest

    from host_tools.field.boardconfig import REPO, BoardConfigError, validate

    cfg = json.loads((REPO / "board_configs" / "pole-01.json").read_text())
    cfg["app"].setdefault("dimmer", {})["safe_level"] = 0
    with pytest.raises(BoardConfigError) as ei:
        validate(cfg, "pole.json")
    assert ei.value.problems == [("app.dimmer.safe_level", "expected num 50..100, got 0")]


@settings(max_examples=50)
@given(st.binary(max_size=60))
def test_pole_ignores_garbage_frames(data):
    p = _pole()
    p.levels(10, 100, 0)
    p.ready(0)
    p.step(10000)
    assert p.radio(data, 10000) == 10
    assert p.take_tx() == []


def test_site_wave_key_is_shared_by_a_sites_poles(tmp_path):
    with Registry(tmp_path / "r.sqlite") as reg:
        reg.add("pole-01", "lighting", "town")
        reg.add("pole-02", "lighting", "town")
        reg.add("pole-09", "lighting", "other")
        reg.add("ft-01", "fieldtest", "town")
        k1, k2 = reg.secrets("pole-01")["wave_key"], reg.secrets("pole-02")["wave_key"]
        assert k1 == k2 and len(bytes.fromhex(k1)) == 16
        assert reg.secrets("pole-09")["wave_key"] != k1
        assert "wave_key" not in reg.secrets("ft-01")
        reg.add("ps-01", "parking_sensor", "town")
        reg.add("ps-02", "parking_sensor", "town")
        reg.add("totem", "parking_totem", "town")
        keys = reg.secrets("totem")["node_keys"]
        assert keys == {"ps-01": reg.secrets("ps-01")["espnow_key"],
                        "ps-02": reg.secrets("ps-02")["espnow_key"]}
