"""The field-test board's config: the "app" and "pins" sections, as the board checks them at
boot and the host before a deploy (host_tools.field.boardconfig imports this file). Pure: no
hardware."""


def _pin(use, default):
    return {"type": "int", "pin": use, "default": default}


SCHEMA = {
    "type": "dict",
    "default": {},
    "keys": {
        "tick_ms": {"type": "int", "min": 100, "max": 3600000, "default": 5000},
        "telemetry_ms": {"type": "int", "min": 500, "max": 3600000, "default": 30000},
        "tmp102_addr": {"type": "int", "min": 8, "max": 119, "default": 0x48},
    },
}

# the heartbeat LED, the button (pulled up) and the TMP102's I2C bus
PINS = {"type": "dict", "default": {}, "keys": {
    "led": _pin("out", 25), "button": _pin("in", 4),
    "sda": {"type": "int", "pin": "sda", "optional": True},
    "scl": {"type": "int", "pin": "scl", "optional": True}}}
