"""The config checker: a board config against its schema, with the key path of the first
problem (`config.json: network.mqtt.port: expected int 1..65535, got "x"`).

Why a hand-written checker: jsonschema does not exist on MicroPython, and a board with a bad
config must say exactly which key is wrong instead of crashing somewhere later. Why a module
of its own: the board needs it only at boot and on a settings change, so bourg.config imports
it for that moment and then drops it (compat.forget) to give its heap back to the app.

Schema specs are plain dicts (so apps can declare them as literals):
  type: "int" | "float" | "num" | "str" | "bool" | "dict" | "list" | "any"
  min/max (numbers), minlen/maxlen (str, list), enum (tuple), optional (bool), default,
  keys ({name: spec}, for dict), values (spec for every value of a dict used as a map),
  extra (allow keys not in `keys`; default False when `keys` is given),
  items (spec for list items), check (fn(value) -> None, reason or (subpath, reason)),
  desc (what the messages say is expected, instead of the type), secret (hide values),
  pin (a GPIO number for this use: see bourg.pins).
secrets.json is checked the same way: SECRETS_SCHEMA plus the app's own keys (its schema
module's SECRETS, merged by secrets_schema); hex_key is the one check of hex keys and MACs,
so the apps' bytes.fromhex cannot fail on a checked value.
Unknown keys are refused at every level: a misspelt key would otherwise fall back to its
default without a word. The host runs this file too (host_tools.field.boardconfig), so `bourg config
validate` gives the board's verdict.
"""
import json

from bourg import pins as gpio_rules
from bourg.config import ConfigError

HEX_DIGITS = "0123456789abcdefABCDEF"
ROLES = ("lighting", "locker", "parking_sensor", "parking_totem", "fieldtest")
ID_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"


def check_id(v):
    """MQTT-topic-safe identifier (no '/', '+', '#', spaces)."""
    for c in v:
        if c not in ID_CHARS:
            return "invalid character " + repr(c) + " (allowed: letters, digits, _ . -)"
    return None


def _id_spec():
    return {"type": "str", "minlen": 1, "maxlen": 32, "check": check_id}


def _heapsize(v):
    n = v[:-1] if v and v[-1] in "kKmM" else v
    return None if n.isdigit() else "expected digits and an optional k or M, e.g. 96k"


BOARD_SCHEMA = {
    "type": "dict",
    "keys": {
        "schema": {"type": "int", "enum": (1,)},
        "device_id": _id_spec(),
        "role": {"type": "str", "enum": ROLES},
        "site": _id_spec(),
        "board": {"type": "str", "minlen": 1, "maxlen": 40},
        "pins": {"type": "dict", "values": {"type": "int", "pin": "io"}, "default": {}},
        "chip": {"type": "str", "enum": ("esp32",), "optional": True},
        # the virtual board's place and heap; a real board ignores it
        "emulator": {"type": "dict", "optional": True, "keys": {
            "x": {"type": "num", "optional": True}, "y": {"type": "num", "optional": True},
            "heapsize": {"type": "str", "optional": True, "minlen": 1, "maxlen": 8,
                         "check": _heapsize}}},
        "network": {
            "type": "dict",
            "keys": {
                "ssid": {"type": "str", "minlen": 1, "maxlen": 32},
                # the site's ESP-NOW channel: a board joined to WiFi is on its AP's channel,
                # so the AP must be on this one (the default country's 1-11); boards set it
                # before ESP-NOW (docs/parking.md)
                "espnow_channel": {"type": "int", "min": 1, "max": 11, "default": 1},
                "mqtt": {
                    "type": "dict",
                    "keys": {
                        "host": {"type": "str", "minlen": 1, "maxlen": 64},
                        "port": {"type": "int", "min": 1, "max": 65535, "default": 1883},
                        "keepalive": {"type": "int", "min": 5, "max": 3600, "default": 30},
                        # TLS with the site's CA and the board's own certificate
                        # (bourg/mqtt_tls.py; the keys are in secrets.json); plain MQTT
                        # only when a config says so, for a lab
                        "tls": {"type": "bool", "default": True},
                    },
                },
            },
        },
        "app": {"type": "dict", "extra": True, "default": {}},
    },
}

_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="


def _base64(v):
    if len(v) % 4:
        return "expected base64 (DER from bourg provision)"
    for c in v:
        if c not in _B64:
            return "expected base64 (DER from bourg provision)"
    return None


SECRETS_SCHEMA = {
    "type": "dict",
    "extra": True,
    "secret": True,
    "keys": {
        "wifi_password": {"type": "str", "maxlen": 64},
        "mqtt_user": {"type": "str", "optional": True, "maxlen": 64},
        "mqtt_password": {"type": "str", "optional": True, "maxlen": 128},
        # DER in base64, from bourg provision (bourg/mqtt_tls.py)
        "tls_ca": {"type": "str", "optional": True, "minlen": 4, "maxlen": 4096,
                   "check": _base64},
        "tls_cert": {"type": "str", "optional": True, "minlen": 4, "maxlen": 4096,
                     "check": _base64},
        "tls_key": {"type": "str", "optional": True, "minlen": 4, "maxlen": 4096,
                    "check": _base64},
    },
}

TLS_KEYS = ("tls_ca", "tls_cert", "tls_key")


def check_tls(data, secrets):
    """A config that asks for TLS needs the three TLS keys in secrets.json: without them the
    board could never reach a broker that speaks only TLS."""
    if data.get("network", {}).get("mqtt", {}).get("tls"):
        for k in TLS_KEYS:
            if k not in secrets:
                raise ConfigError(k, "missing (required with network.mqtt.tls)",
                                  "secrets.json")


def _hex_form(min_bytes, max_bytes):
    lo = str(2 * min_bytes)
    if max_bytes == min_bytes:
        return lo + " hex digits"
    if max_bytes is None:
        return "an even number of hex digits, at least " + lo
    return "an even number of hex digits, " + lo + " to " + str(2 * max_bytes)


def hex_key(min_bytes, max_bytes, what):
    """Spec of bytes written as hex digits, two per byte (no spaces), min_bytes..max_bytes
    of them (max_bytes None: no bound). `what` says what the value is and where it comes
    from: "expected an even number of hex digits, at least 32 (the site's radio key, from
    bourg provision)". The message never holds the value (secrets.json's are secret)."""
    desc = _hex_form(min_bytes, max_bytes) + " (" + what + ")"
    lo = 2 * min_bytes
    hi = None if max_bytes is None else 2 * max_bytes

    def chk(v):
        n = len(v)
        if n % 2 or n < lo or (hi is not None and n > hi):
            return "expected " + desc
        for c in v:
            if c not in HEX_DIGITS:
                return "expected " + desc
        return None

    return {"type": "str", "desc": desc, "check": chk}


# the key that signs this board's over-the-air updates (bourg/ota_manifest.py); a board
# without one refuses every update
_UPDATE_KEY = hex_key(16, 64, "the board's update key, from bourg provision")
_UPDATE_KEY["optional"] = True
SECRETS_SCHEMA["keys"]["update_key"] = _UPDATE_KEY


def check_secrets(secrets, spec):
    """The verdict on secrets.json (validated against `spec`, from secrets_schema): the board
    runs it at boot, the host before it installs secrets on a board."""
    secrets = validate(secrets, spec, "", "secrets.json")
    if "mqtt_user" in secrets and "mqtt_password" not in secrets:
        raise ConfigError("mqtt_password", "missing (required with mqtt_user)", "secrets.json")
    return secrets


def check_pair(data, secrets, pair_check, file):
    """A check across the config and secrets.json (a schema module's SECRETS_CHECK: given the
    checked "app" section and the secrets, it returns None or (path in secrets.json, path in
    the config, reason)). The board runs it at boot and on every settings change, the host
    before a deploy; `file` is the one to blame (settings.json, else a secrets file under
    any name), and the path named is in that file."""
    if pair_check is not None:
        bad = pair_check(data.get("app", {}), secrets)
        if bad:
            raise ConfigError(bad[1] if file == "settings.json" else bad[0], bad[2], file)


def secrets_schema(app_secrets=None):
    """The schema of secrets.json: SECRETS_SCHEMA with the app's own keys ({name: spec}, the
    SECRETS of its schema module) added; every value stays hidden in messages."""
    if not app_secrets:
        return SECRETS_SCHEMA
    keys = dict(SECRETS_SCHEMA["keys"])
    for k in app_secrets:
        keys[k] = app_secrets[k]
    spec = dict(SECRETS_SCHEMA)
    spec["keys"] = keys
    return spec


def _type_ok(t, v):
    # bool first: on CPython bool is an int subclass, and True must not pass as a port number
    if t == "any":
        return True
    if t == "bool":
        return v is True or v is False
    if v is True or v is False:
        return False
    if t == "int":
        return isinstance(v, int)
    if t in ("float", "num"):
        return isinstance(v, (int, float))
    if t == "str":
        return isinstance(v, str)
    if t == "dict":
        return isinstance(v, dict)
    if t == "list":
        return isinstance(v, list)
    raise ValueError("bad schema type " + repr(t))


def _num(x):
    return str(x)


def describe(spec):
    """Human text for what a spec accepts: 'int 1..65535', 'one of "a", "b"', 'str'."""
    if "desc" in spec:
        return spec["desc"]
    t = spec.get("type", "any")
    if "enum" in spec:
        return "one of " + ", ".join(_show(e) for e in spec["enum"])
    lo = spec.get("min")
    hi = spec.get("max")
    if t in ("str", "list"):
        lo = spec.get("minlen")
        hi = spec.get("maxlen")
        unit = " chars" if t == "str" else " items"
    else:
        unit = ""
    if lo is not None and hi is not None:
        return t + " " + _num(lo) + ".." + _num(hi) + unit
    if lo is not None:
        return t + " >= " + _num(lo) + unit
    if hi is not None:
        return t + " <= " + _num(hi) + unit
    return "object" if t == "dict" else t


def _show(v, secret=False):
    if secret:
        return "a " + _tname(v) + " (hidden)"
    try:
        s = json.dumps(v)
    except (TypeError, ValueError):
        s = repr(v)
    if len(s) > 40:
        s = s[:37] + "..."
    return s


def _tname(v):
    if v is True or v is False:
        return "bool"
    if isinstance(v, dict):
        return "object"
    return type(v).__name__


def _join(path, key):
    return key if not path else path + "." + key


def validate(value, spec, path="", file="config.json", secret=False, uses=None):
    """Check value against spec; fill in defaults of missing optional dict keys (in place).
    Returns the value. Raises ConfigError with the key path of the first problem. `uses`
    (a bourg.pins.Uses) collects the GPIOs claimed so far, for conflicts across sections.
    Keys are visited in sorted order, so MicroPython and CPython report the same first
    problem (their dicts iterate differently)."""
    secret = secret or spec.get("secret", False)
    t = spec.get("type", "any")
    bad = not _type_ok(t, value) or ("enum" in spec and value not in spec["enum"])
    if not bad and t in ("int", "float", "num"):
        lo = spec.get("min")
        hi = spec.get("max")
        bad = (lo is not None and value < lo) or (hi is not None and value > hi)
    if bad:
        raise ConfigError(path, "expected " + describe(spec) + ", got " + _show(value, secret),
                          file)
    if t in ("str", "list"):
        lo = spec.get("minlen")
        hi = spec.get("maxlen")
        n = len(value)
        if (lo is not None and n < lo) or (hi is not None and n > hi):
            raise ConfigError(path, "expected " + describe(spec) + ", got " +
                              (_show(value, secret) if t == "str" else str(n) + " items"), file)
    if t == "dict":
        _validate_dict(value, spec, path, file, secret, uses)
    if t == "list" and "items" in spec:
        for i in range(len(value)):
            value[i] = validate(value[i], spec["items"], path + "[" + str(i) + "]", file,
                                secret, uses)
    use = spec.get("pin")
    if use is not None:
        reason = gpio_rules.check(value, use) if uses is None else \
            uses.claim(value, use, path)
        if reason:
            raise ConfigError(path, reason, file)
    chk = spec.get("check")
    if chk is not None:
        reason = chk(value)
        if isinstance(reason, tuple):
            raise ConfigError(_join(path, reason[0]), reason[1], file)
        if reason:
            raise ConfigError(path, reason, file)
    return value


def _validate_dict(value, spec, path, file, secret, uses):
    keys = spec.get("keys")
    if keys is not None:
        if not spec.get("extra", False):  # first: a misspelt key explains the missing one
            for k in sorted(value):
                if k not in keys:
                    raise ConfigError(_join(path, str(k)), "unknown key", file)
        for k in sorted(keys):
            sub = keys[k]
            if k in value:
                value[k] = validate(value[k], sub, _join(path, k), file, secret, uses)
            elif "default" in sub:  # validated too, so nested defaults get filled in
                value[k] = validate(_copy(sub["default"]), sub, _join(path, k), file, secret,
                                    uses)
            elif not sub.get("optional", False):
                raise ConfigError(_join(path, k), "missing (expected " + describe(sub) + ")",
                                  file)
    vspec = spec.get("values")
    if vspec is not None:
        for k in sorted(value):
            if keys is None or k not in keys:
                value[k] = validate(value[k], vspec, _join(path, str(k)), file, secret, uses)


def _copy(obj):
    """Deep copy of JSON data (no copy.deepcopy on MicroPython)."""
    if isinstance(obj, dict):
        return {k: _copy(obj[k]) for k in obj}
    if isinstance(obj, (list, tuple)):
        return [_copy(v) for v in obj]
    return obj


def merge(base, over):
    """Deep merge `over` onto a copy of `base`: dicts merge key by key, anything else replaces."""
    out = _copy(base)
    for k in over:
        if isinstance(out.get(k), dict) and isinstance(over[k], dict):  # pyright: ignore[reportAttributeAccessIssue] a dict's copy
            out[k] = merge(out[k], over[k])
        else:
            out[k] = _copy(over[k])
    return out


def board_schema(app_schema=None, pins_schema=None):
    """The board schema with the app's schemas for the "app" and "pins" sections."""
    if app_schema is None and pins_schema is None:
        return BOARD_SCHEMA
    keys = dict(BOARD_SCHEMA["keys"])
    if app_schema is not None:
        keys["app"] = app_schema
    if pins_schema is not None:
        keys["pins"] = pins_schema
    return {"type": "dict", "keys": keys}


def check(raw, schema, file="config.json"):
    """(validated copy of raw, warnings): the whole verdict on one config, pins included.
    The board runs it at boot and on a settings change, the host before a deploy."""
    uses = gpio_rules.Uses()
    data = validate(_copy(raw), schema, "", file, False, uses)
    return data, [file + ": " + w for w in uses.warnings]


NET_SCHEMA = {
    "type": "dict",
    "extra": True,
    "keys": {
        "device_id": _id_spec(),
        "site": _id_spec(),
        "network": {"type": "dict", "extra": True,
                    "keys": BOARD_SCHEMA["keys"]["network"]["keys"]},
    },
}
