"""The pole's config: the "app" and "pins" sections and its secrets, as the board checks them
at boot and the host before a deploy (host_tools.field.boardconfig imports this file). Pure: no
hardware."""
import profilecheck
from bourg import configcheck


def _profile_check(v):
    try:
        profilecheck.validate(v)
    except profilecheck.ProfileError as e:
        return str(e)
    return None


def _int(lo, hi, default):
    """An integer setting within lo..hi."""
    return {"type": "int", "min": lo, "max": hi, "default": default}


def _num(lo, hi, default):
    """A number (int or float) setting within lo..hi."""
    return {"type": "num", "min": lo, "max": hi, "default": default}


def _section(keys):
    """A group of settings ({name: spec}); left out, each of its keys takes its default."""
    return {"type": "dict", "default": {}, "keys": keys}


def _pin(use, optional=True):
    return {"type": "int", "pin": use, "optional": optional}


# pwm dims the lamp (no boot glitch: the lamp would flicker at every reset); pir is the
# presence sensor, pir2 a second one; the lamp current and the LDR are read on ADC1
PINS = {"type": "dict", "default": {}, "keys": {
    "pwm": _pin("safe", False), "pir": _pin("in", False), "pir2": _pin("in"),
    "door": _pin("in"), "lamp_adc": _pin("adc"), "ldr_adc": _pin("adc"),
    "sda": _pin("sda"), "scl": _pin("scl")}}

# the key of the site's neighbour-wave frames, shared by its poles (16 bytes from the registry)
SECRETS = {"wave_key": configcheck.hex_key(16, None, "the site's radio key, from bourg "
                                                     "provision")}

DEFAULT_PROFILE = {
    "utc_offset_min": 60, "dst": "eu",
    "periods": [
        {"name": "evening", "start": "sunset", "end": "23:00", "base": 20, "presence": 100},
        {"name": "night", "start": "23:00", "end": "05:30", "base": 0, "presence": 80},
        {"name": "morning", "start": "05:30", "end": "sunrise", "base": 20, "presence": 100},
    ],
    "lux": {"on_below": 20, "off_above": 50, "dwell_s": 60},
}


# x_m: the pole's position along the street (the wave's distances and directions);
# entry_level: at a street end, the lowest level while the street is lit (a period of the
# profile, or the lux switch, in force): a mover coming in from outside reaches this pole
# before any sensor sees it, so it idles at the level wanted ahead of a mover; 0 elsewhere
SCHEMA = _section({
    "x_m": _num(-100000, 100000, 0),
    "entry_level": _num(0, 100, 0),
    "lat": _num(-90, 90, 48.85),
    "lon": _num(-180, 180, 2.35),
    "profile": {"type": "dict", "extra": True, "default": DEFAULT_PROFILE,
                "check": _profile_check},
    "fallback": _section({"base": _num(0, 100, 30), "presence": _num(0, 100, 100)}),
    "dimmer": _section({
        "ramp_up_ms": _int(0, 10000, 250), "ramp_down_ms": _int(0, 60000, 3000),
        "hold_ms": _int(0, 3600000, 15000),
        # the level whenever the pole cannot trust its inputs: a fail-safe must be light
        "safe_level": _num(50, 100, 100)}),
    "wave": _section({
        "nb_hops": _int(0, 3, 1), "nb_level": _num(0, 100, 50),
        "ahead_level": _num(0, 100, 50), "spacing_m": _num(1, 500, 30),
        "lead_s": _num(0, 30, 4.0), "max_hops": _int(1, 5, 3)}),
    "presence": _section({
        "confirm_ms": _int(0, 1000, 0), "release_ms": _int(0, 10000, 500),
        "stuck_s": _int(10, 86400, 900)}),
    "lamp": _section({
        "rated_w": _num(1, 1000, 40), "standby_w": _num(0, 50, 0.5),
        "mains_v": _num(100, 300, 230), "pf": _num(0.3, 1, 0.95),
        "tol_pct": _num(5, 100, 30), "min_a": _num(0, 5, 0.005),
        "amps_per_volt": _num(0.001, 1000, 0.125), "zero_v": _num(0.15, 2.45, 0.25),
        "day_burn_s": _int(10, 86400, 600),
        "settle_s": _int(0, 600, 5), "confirm_s": _int(0, 3600, 10)}),
    "light": _section({
        "sensor": {"type": "str", "enum": ["auto", "none", "bh1750", "ldr"],
                   "default": "auto"},
        "day_lux": _num(0, 100000, 200), "ldr_fixed_ohm": _num(100, 1e7, 3300),
        "ldr_r10_ohm": _num(100, 1e7, 20000), "ldr_gamma": _num(0.1, 2, 0.7)}),
    "pwm_freq": _int(100, 40000, 1000),
    "pwm_invert": {"type": "bool", "default": True},
    "safe_after_wdt_s": _int(0, 3600, 300),
    "state_ms": _int(1000, 3600000, 30000),
    "energy_ms": _int(1000, 3600000, 60000),
    "persist_s": _int(10, 86400, 300),
})
