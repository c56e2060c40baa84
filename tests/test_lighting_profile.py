"""firmware/lighting/nightprofile.py: validation, periods across midnight, lux switch,
overrides."""
import pytest
from hypothesis import given
from hypothesis import strategies as st

from host_tools.lighting import fw

P = fw.load("nightprofile")
C = fw.load("profilecheck")  # checking: its own module, which a pole drops after use

GOOD = {"utc_offset_min": 60,
        "periods": [{"name": "evening", "start": "sunset", "end": "23:00", "base": 20,
                     "presence": 100},
                    {"name": "night", "start": "23:00", "end": "sunrise-15", "base": 10,
                     "presence": 90},
                    {"name": "dawn", "start": "sunrise-15", "end": "sunrise+10", "base": 30,
                     "presence": 100}],
        "lux": {"on_below": 20, "off_above": 50, "dwell_s": 60}}


def test_periods_across_midnight():
    prof = C.validate(GOOD)
    res = P.resolve(prof, sunset=16 * 60 + 30, sunrise=8 * 60)  # winter night
    assert P.lookup(res, 17 * 60) == (20, 100, "evening")
    assert P.lookup(res, P.night_minute(0)) == (10, 90, "night")  # midnight
    assert P.lookup(res, P.night_minute(3 * 60)) == (10, 90, "night")
    assert P.lookup(res, P.night_minute(7 * 60 + 50)) == (30, 100, "dawn")
    assert P.lookup(res, P.night_minute(8 * 60 + 10)) is None  # day: off
    assert P.lookup(res, 16 * 60) is None


def test_time_forms():
    assert C.parse_time("sunset+30") == (P.SUNSET, 30)
    assert C.parse_time("Sunrise - 15") == (P.SUNRISE, -15)
    assert C.parse_time("dusk") == (P.DUSK, 0)
    assert C.parse_time("05:30") == (P.FIXED, 330)
    assert C.describe_time((P.SUNRISE, -15)) == "sunrise-15"
    assert C.describe_time((P.FIXED, 330)) == "05:30"


@pytest.mark.parametrize(("patch", "path", "words"), [
    ({"periods": []}, "periods", "non-empty"),
    ({"periods": [{"start": "25:00", "end": "sunrise", "base": 0, "presence": 1}]},
     "periods[0].start", "HH:MM"),
    ({"periods": [{"start": "sunset", "end": "sunrise", "base": 0}]},
     "periods[0].presence", "missing"),
    ({"periods": [{"start": "sunset", "end": "sunrise", "base": 50, "presence": 10}]},
     "periods[0].presence", "below base"),
    ({"periods": [{"start": "sunset", "end": "sunrise", "base": 101, "presence": 101}]},
     "periods[0].base", "0..100"),
    ({"periods": [{"start": "sunset", "end": "sunrise", "base": True, "presence": 1}]},
     "periods[0].base", "expected number"),
    ({"periods": [{"start": "sunset+999", "end": "sunrise", "base": 0, "presence": 1}]},
     "periods[0].start", "360"),
    ({"periods": [{"start": "sunset", "end": "02:00", "base": 0, "presence": 1},
                  {"start": "01:00", "end": "sunrise", "base": 0, "presence": 1}]},
     "periods[1]", "overlaps"),
    ({"periods": [{"start": "23:00", "end": "22:00", "base": 0, "presence": 1}]},
     "periods[0]", "ends before"),
    ({"lux": {"on_below": 50, "off_above": 20}}, "lux.off_above", "hysteresis"),
    # a dark sensor reads 0, which is never below 0: that pole would never see night again
    ({"lux": {"on_below": 0, "off_above": 20}}, "lux.on_below", "1..10000"),
    ({"colour": 1}, "colour", "unknown"),
])
def test_validation_errors_name_the_path(patch, path, words):
    bad = dict(GOOD)
    bad.update(patch)
    with pytest.raises(P.ProfileError) as e:
        C.validate(bad)
    assert e.value.path == path
    assert words in str(e.value)
    assert str(e.value).startswith(path + ": ")


_json = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats()
                     | st.text(max_size=12),
                     lambda c: st.lists(c, max_size=4) | st.dictionaries(
                         st.sampled_from(["periods", "start", "end", "base", "presence", "name",
                                          "lux", "on_below", "off_above", "x"]), c, max_size=5),
                     max_leaves=20)


@given(_json)
def test_validate_raises_only_profile_error(obj):
    try:
        C.validate(obj)
    except P.ProfileError:
        pass


def test_lux_switch_hysteresis():
    sw = P.LuxSwitch(on_below=20, off_above=50, dwell_ms=1000, dark=False)
    assert sw.update(30, 0) is False  # in the band: no change
    assert sw.update(10, 1000) is False  # below, but not for dwell_ms yet
    assert sw.update(35, 1500) is False  # back in the band: timer reset
    assert sw.update(10, 2000) is False
    assert sw.update(10, 3000) is True  # dark after 1 s below
    assert sw.update(40, 9000) is True  # band keeps it dark
    assert sw.update(None, 9500) is True  # sensor fault keeps the state
    assert sw.update(60, 10000) is True
    assert sw.update(60, 11000) is False


FALLBACK = {"base": 30, "presence": 100}


@given(st.booleans(), st.one_of(st.none(), st.tuples(st.integers(0, 100), st.integers(0, 100),
                                                      st.just("p"))),
       st.one_of(st.none(), st.booleans()))
def test_the_plan_is_light_whenever_either_input_says_dark_and_safe_when_blind(
        clock_known, period, dark):
    """The pole's fail-safe rules: blind (no clock, no light reading) is None, which the app
    holds at the safe level, never the last levels; a period the clock knows lights the
    street whatever the sensor says (stuck bright); darkness the sensor sees lights it."""
    if not clock_known:
        period = None  # no clock, no schedule
    got = P.plan(clock_known, period, dark, FALLBACK)
    if not clock_known and dark is None:
        assert got is None
    elif period is not None:
        assert got == (True, period[0], period[1])
    elif dark:
        assert got == (True, 30, 100)
    else:
        assert got == (False, 0, 0)


def test_a_lamp_lit_by_the_profile_at_a_bright_sunset_is_not_burning_by_day():
    """With the clock lighting the street from sunset whatever the sensor reads, a sky still
    at 300 lux would have raised day_burning every clear evening."""
    evening = (20, 100, "evening")
    assert P.daylight(True, evening, 300.0, 200) is False
    assert P.daylight(True, None, 300.0, 200) is True
    assert P.daylight(True, None, 50.0, 200) is False  # overcast outside the periods
    assert P.daylight(False, None, 300.0, 200) is True  # no clock: the sensor alone
    assert P.daylight(True, None, None, 200) is True and P.daylight(False, None, None, 200) is None


def test_override_parse_and_errors():
    assert P.parse_override({"level": 80, "duration_s": 60}, 1000) == (80, 61000)
    assert P.parse_override({"level": None}, 5) == (None, 0)
    for bad in ({"level": 120}, {"duration_s": 5}, {"level": 5, "duration_s": 0}, [],
                {"level": 5, "until": 1}):
        with pytest.raises(P.ProfileError):
            P.parse_override(bad, 0)
