"""The pole's config: the "app" and "pins" sections, as the board checks them at boot and
the host before a deploy (host_tools.boardconfig imports this file). Pure: no hardware."""
import nightprofile


def _profile_check(v):
    try:
        nightprofile.validate(v)
    except nightprofile.ProfileError as e:
        return str(e)
    return None


def _i(lo, hi, d):
    return {"type": "int", "min": lo, "max": hi, "default": d}


def _n(lo, hi, d):
    return {"type": "num", "min": lo, "max": hi, "default": d}


def _d(keys):
    return {"type": "dict", "default": {}, "keys": keys}


def _pin(use, optional=True):
    return {"type": "int", "pin": use, "optional": optional}


# pwm dims the lamp (no boot glitch: the lamp would flicker at every reset); pir is the
# presence sensor, pir2 a second one; the lamp current and the LDR are read on ADC1
PINS = {"type": "dict", "default": {}, "keys": {
    "pwm": _pin("safe", False), "pir": _pin("in", False), "pir2": _pin("in"),
    "door": _pin("in"), "lamp_adc": _pin("adc"), "ldr_adc": _pin("adc"),
    "sda": _pin("sda"), "scl": _pin("scl")}}

DEFAULT_PROFILE = {
    "utc_offset_min": 60, "dst": "eu",
    "periods": [
        {"name": "evening", "start": "sunset", "end": "23:00", "base": 20, "presence": 100},
        {"name": "night", "start": "23:00", "end": "05:30", "base": 0, "presence": 80},
        {"name": "morning", "start": "05:30", "end": "sunrise", "base": 20, "presence": 100},
    ],
    "lux": {"on_below": 20, "off_above": 50, "dwell_s": 60},
}


SCHEMA = _d({
    "x_m": _n(-100000, 100000, 0),
    "lat": _n(-90, 90, 48.85),
    "lon": _n(-180, 180, 2.35),
    "profile": {"type": "dict", "extra": True, "default": DEFAULT_PROFILE,
                "check": _profile_check},
    "fallback": _d({"base": _n(0, 100, 30), "presence": _n(0, 100, 100)}),
    "dimmer": _d({"ramp_up_ms": _i(0, 10000, 250), "ramp_down_ms": _i(0, 60000, 3000),
                  "hold_ms": _i(0, 3600000, 15000), "safe_level": _n(0, 100, 100)}),
    "wave": _d({"nb_hops": _i(0, 3, 1), "nb_level": _n(0, 100, 50),
                "ahead_level": _n(0, 100, 50), "spacing_m": _n(1, 500, 30),
                "lead_s": _n(0, 30, 4.0), "max_hops": _i(1, 5, 3)}),
    "presence": _d({"confirm_ms": _i(0, 1000, 0), "release_ms": _i(0, 10000, 500),
                    "stuck_s": _i(10, 86400, 900)}),
    "lamp": _d({"rated_w": _n(1, 1000, 40), "standby_w": _n(0, 50, 0.5),
                "mains_v": _n(100, 300, 230), "pf": _n(0.3, 1, 0.95),
                "tol_pct": _n(5, 100, 30), "min_a": _n(0, 5, 0.005),
                "amps_per_volt": _n(0.001, 1000, 0.125), "zero_v": _n(0.15, 2.45, 0.25),
                "day_burn_s": _i(10, 86400, 600),
                "settle_s": _i(0, 600, 5), "confirm_s": _i(0, 3600, 10)}),
    "light": _d({"sensor": {"type": "str", "enum": ["auto", "none", "bh1750", "ldr"],
                            "default": "auto"},
                 "day_lux": _n(0, 100000, 200), "ldr_fixed_ohm": _n(100, 1e7, 3300),
                 "ldr_r10_ohm": _n(100, 1e7, 20000), "ldr_gamma": _n(0.1, 2, 0.7)}),
    "pwm_freq": _i(100, 40000, 1000),
    "pwm_invert": {"type": "bool", "default": True},
    "safe_after_wdt_s": _i(0, 3600, 300),
    "state_ms": _i(1000, 3600000, 30000),
    "energy_ms": _i(1000, 3600000, 60000),
    "persist_s": _i(10, 86400, 300),
})


