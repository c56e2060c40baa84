"""The parking sensor node's config: the "app" and "pins" sections and its secrets, as the
node checks them at each power-on and the host before a deploy (host_tools.field.boardconfig
imports this file). Pure: no hardware."""
import detector
import gate
from bourg import configcheck


def _params(defaults):
    """Check of a parameter override map: known names (a typo must not fall back to the
    default silently) and numbers only."""
    def chk(v):
        for k in sorted(v):
            if k not in defaults:
                return k, "unknown parameter"
            x = v[k]
            if x is True or x is False or not isinstance(x, (int, float)):
                return k, "expected a number"
        return None
    return chk


_MAC = configcheck.hex_key(6, 6, "the totem's MAC, or \"\" to broadcast")


def _mac(v):
    """The totem's MAC as 12 hex digits, or "" to broadcast."""
    return _MAC["check"](v) if v else None


def _pin(use, optional=True):
    return {"type": "int", "pin": use, "optional": optional}


SCHEMA = {
    "type": "dict", "default": {}, "keys": {
        "node": {"type": "int", "min": 1, "max": 65535, "default": 1},
        "totem": {"type": "str", "default": "", "desc": _MAC["desc"], "check": _mac},
        "sample_ms": {"type": "int", "min": 200, "max": 600000, "default": 1000},
        "heartbeat_s": {"type": "int", "min": 10, "max": 86400, "default": 1800},
        "ack_ms": {"type": "int", "min": 5, "max": 1000, "default": 60},
        "battery_divider": {"type": "num", "min": 1, "max": 10, "default": 2.0},
        "low_battery_mv": {"type": "int", "min": 1000, "max": 5000, "default": 2300},
        "detector": {"type": "dict", "extra": True, "default": {},
                     "check": _params(detector.DEFAULTS)},
        "gate": {"type": "dict", "extra": True, "default": {}, "check": _params(gate.DEFAULTS)},
    },
}

# the node's key for its frames and the totem's ACKs (16 bytes from the registry)
# a battery node speaks ESP-NOW only: it never reaches a broker, so it holds no TLS keys
USES_MQTT = False

SECRETS = {"espnow_key": configcheck.hex_key(16, None, "the node's radio key, from bourg "
                                                       "provision")}

# the magnetometer on I2C, its INT line (wake on change), the battery divider on ADC1
PINS = {"type": "dict", "default": {}, "keys": {
    "sda": _pin("sda", False), "scl": _pin("scl", False), "mag_int": _pin("in"),
    "battery_adc": _pin("adc")}}
