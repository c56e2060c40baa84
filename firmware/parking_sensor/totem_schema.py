"""The parking totem's config: the "app" and "pins" sections and its secrets, as the board
checks them at boot and the host before a deploy (host_tools.field.boardconfig imports this
file). Pure: no hardware."""
from bourg import configcheck


def _s(lo, hi):
    return {"type": "str", "minlen": lo, "maxlen": hi}


def _pin(use):
    return {"type": "int", "pin": use}


def _check(app):
    """Rows and guidance LEDs name bays: each name must be one of app.bays."""
    known = [b["bay"] for b in app["bays"]]
    for i, row in enumerate(app["rows"]):
        for j, name in enumerate(row):
            if name and name not in known:
                return "rows[%d][%d]" % (i, j), "no bay " + repr(name) + " in app.bays"
    gd = app.get("guidance")
    if gd:
        for i, name in enumerate(gd["bays"]):
            if name not in known:
                return "guidance.bays[%d]" % i, "no bay " + repr(name) + " in app.bays"
    return None


SCHEMA = {
    "type": "dict", "default": {}, "check": _check, "keys": {
        "heartbeat_s": {"type": "int", "min": 10, "max": 86400, "default": 1800},
        "missed": {"type": "int", "min": 1, "max": 100, "default": 3},
        "bays": {"type": "list", "minlen": 1, "maxlen": 200, "items": {
            "type": "dict", "keys": {
                "node": {"type": "int", "min": 1, "max": 65535},
                "device": _s(1, 40), "bay": _s(1, 16), "zone": _s(1, 16)}}},
        # a TM1637 per zone: CLK driven, DIO open-drain
        "displays": {"type": "list", "maxlen": 8, "default": [], "items": {
            "type": "dict", "keys": {"zone": _s(1, 16), "clk": _pin("out"),
                                     "dio": _pin("out")}}},
        # the bays side by side, "" for a space with no sensor: a node that cannot tell a
        # weak car of its own from a neighbour's asks when a neighbour bay last changed
        "rows": {"type": "list", "maxlen": 50, "default": [], "items": {
            "type": "list", "minlen": 1, "maxlen": 200, "items": _s(0, 16)}},
        # per-bay guidance LEDs: a WS2812 strip, its LEDs in the order of `bays`
        "guidance": {"type": "dict", "optional": True, "keys": {
            "pin": _pin("out"),
            "bays": {"type": "list", "minlen": 1, "maxlen": 200, "items": _s(1, 16)},
            "brightness": {"type": "int", "min": 1, "max": 255, "default": 48}}},
    },
}

# each sensor's key by device id
SECRETS = {"node_keys": {"type": "dict", "default": {}, "values": configcheck.hex_key(
    16, None, "a sensor's radio key, from bourg provision")}}


def _a_key_for_every_bay(app, secrets):
    """A bay whose sensor has no key would be silent for good (its frames fail their check):
    the totem refuses it at boot and in a settings change, and the host before a deploy."""
    keys = secrets["node_keys"]
    for i, b in enumerate(app["bays"]):
        if b["device"] not in keys:
            return ("node_keys." + b["device"], "app.bays[" + str(i) + "].device",
                    "no key for " + b["device"] + " (bay " + b["bay"] + ") in secrets.json's "
                    "node_keys; from bourg provision")
    return None


SECRETS_CHECK = _a_key_for_every_bay

# the totem's pins are all in its app section
PINS = {"type": "dict", "default": {}, "keys": {}}
