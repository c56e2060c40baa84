"""The locker bank's config: the "app" and "pins" sections and its secrets, as the board
checks them at boot and the host before a deploy (host_tools.field.boardconfig imports this file).
Pure: no hardware.

Every GPIO of the bank is declared with its use, so a lock on a keypad row or two
compartments on one pin are refused by bourg.configcheck before anything is driven."""
from bourg import configcheck


def _pin(use, optional=False):
    return {"type": "int", "pin": use, "optional": optional}


def _pins(use, lo, hi):
    return {"type": "list", "minlen": lo, "maxlen": hi, "items": _pin(use)}


def _check(app):
    """Compartment numbers are the keypad's and the codes': one number, one compartment."""
    seen = []
    for i, c in enumerate(app["compartments"]):
        if c["n"] in seen:
            return "compartments[" + str(i) + "].n", "compartment %d is listed twice" % c["n"]
        seen.append(c["n"])
    return None


_COMP = {"type": "dict", "keys": {
    "n": {"type": "int", "min": 1, "max": 49},
    "lock": _pin("safe"),  # a relay that blips at reset could open the door
    "door": _pin("in"),
    "temp_addr": {"type": "int", "min": 8, "max": 119, "optional": True},
    "max_c": {"type": "num", "min": -30, "max": 30, "optional": True},
    "max_minutes": {"type": "num", "min": 0, "max": 1440, "default": 30}}}

SCHEMA = {"type": "dict", "default": {}, "check": _check, "keys": {
    "rows": _pins("out", 4, 4),  # driven low in turn by the scan
    "cols": _pins("in", 3, 4),
    "compartments": {"type": "list", "minlen": 1, "maxlen": 49, "items": _COMP},
    "lock_pulse_ms": {"type": "int", "min": 50, "max": 5000, "default": 600},
    "open_window_s": {"type": "int", "min": 5, "max": 600, "default": 30},
    "door_alarm_s": {"type": "int", "min": 10, "max": 3600, "default": 120},
    "entry_timeout_ms": {"type": "int", "min": 2000, "max": 60000, "default": 10000},
    # how often the refrigerated compartments' lowest, highest and last readings are sent
    "temps_every_s": {"type": "int", "min": 60, "max": 3600, "default": 900},
    "buzzer": _pin("out", True),
    "led": _pin("out", True),
}}

# the key the bank's codes are made with (32 bytes from the registry)
SECRETS = {"bank_key": configcheck.hex_key(16, None, "the bank's key, from bourg provision")}

# the DS3231 and the compartments' TMP102s
PINS = {"type": "dict", "default": {}, "keys": {"sda": _pin("sda", True),
                                                 "scl": _pin("scl", True)}}
