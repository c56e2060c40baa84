"""Board configuration: /config.json + /settings.json (remote-changeable) + /secrets.json.

Why a hand-written checker: jsonschema does not exist on MicroPython, and a board with a bad
config must say exactly which key is wrong (`config.json: network.mqtt.port: expected int
1..65535, got "x"`) instead of crashing somewhere later.

Schema specs are plain dicts (so apps can declare them as literals):
  type: "int" | "float" | "num" | "str" | "bool" | "dict" | "list" | "any"
  min/max (numbers), minlen/maxlen (str, list), enum (tuple), optional (bool), default,
  keys ({name: spec}, for dict), values (spec for every value of a dict used as a map),
  extra (allow keys not in `keys`; default False when `keys` is given),
  items (spec for list items), check (fn(value) -> None, reason or (subpath, reason)),
  secret (hide values), pin (a GPIO number for this use: see bourg.pins).
Unknown keys are refused at every level: a misspelt key would otherwise fall back to its
default without a word. The host runs this file too (host_tools.boardconfig), so `bourg config
validate` gives the board's verdict.
"""
import json

from bourg import pins as gpio_rules
from bourg import store

ROLES = ("lighting", "locker", "parking_sensor", "parking_totem", "fieldtest")
ID_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"


class ConfigError(Exception):
    """A config problem: `file: path: reason`. `path` is the dotted key path ("" = whole file)."""

    def __init__(self, path, reason, file="config.json"):
        self.path = path
        self.reason = reason
        self.file = file
        if path:
            msg = file + ": " + path + ": " + reason
        else:
            msg = file + ": " + reason
        self.msg = msg
        super().__init__(msg)

    def __str__(self):
        return self.msg


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
                    },
                },
            },
        },
        "app": {"type": "dict", "extra": True, "default": {}},
    },
}

SECRETS_SCHEMA = {
    "type": "dict",
    "extra": True,
    "secret": True,
    "keys": {
        "wifi_password": {"type": "str", "maxlen": 64},
        "mqtt_user": {"type": "str", "optional": True, "maxlen": 64},
        "mqtt_password": {"type": "str", "optional": True, "maxlen": 128},
    },
}


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


def _path(root, name):
    if root.endswith("/"):
        return root + name
    return root + "/" + name


def read_json(root, name, missing_ok=False):
    """Parse root/name. Missing: None if missing_ok else ConfigError. Bad JSON: ConfigError.
    A complete name.tmp left by a power cut during an atomic write is used if the file is gone."""
    p = _path(root, name)
    raw = None
    for cand in (p, p + ".tmp"):
        try:
            with open(cand, "rb") as f:
                raw = f.read()
            break
        except OSError:
            continue
    if raw is None:
        if missing_ok:
            return None
        raise ConfigError("", "missing file", name)
    try:
        obj = json.loads(raw)
    except ValueError as e:
        raise ConfigError("", "invalid JSON (" + str(e) + ")", name) from None
    return obj


class Config:
    """Validated board config. `cfg["app"]`, `cfg.device_id`, `cfg.secrets` (never log it),
    `cfg.settings` (what /settings.json contributed) and `cfg.warnings` (ignored settings)."""

    def __init__(self, data, secrets, settings=None, warnings=None, root="/",
                 app_schema=None, settings_keys=("app",), pins_schema=None):
        self.data = data
        self.secrets = secrets
        self.settings = settings or {}
        self.warnings = warnings or []
        self.root = root
        self.app_schema = app_schema
        self.settings_keys = settings_keys
        self.pins_schema = pins_schema

    def __getitem__(self, k):
        return self.data[k]

    def get(self, k, default=None):
        return self.data.get(k, default)

    def __contains__(self, k):
        return k in self.data

    @property
    def device_id(self):
        return self.data["device_id"]

    @property
    def site(self):
        return self.data["site"]

    @property
    def role(self):
        return self.data["role"]

    @property
    def app(self):
        return self.data["app"]

    @property
    def topic_prefix(self):
        return topic_prefix(self.data)

    def __repr__(self):  # secrets stay out of reprs that end up in logs
        return "<Config " + str(self.data.get("device_id")) + ">"


def topic_prefix(data):
    """MQTT topic prefix of this board: "bourg/<site>/<device_id>/"."""
    return "bourg/" + data["site"] + "/" + data["device_id"] + "/"


def _filter_settings(settings, allowed, warnings):
    if not isinstance(settings, dict):
        warnings.append("settings.json: expected object, ignored")
        return {}
    out = {}
    for k in settings:
        if k in allowed:
            out[k] = settings[k]
        else:
            warnings.append("settings.json: " + str(k) + ": not remote-changeable, ignored")
    return out


def load(root="/", app_schema=None, settings_keys=("app",), ring=None, pins_schema=None):
    """Load, merge and validate the three files under root. Raises ConfigError for a bad
    config.json/secrets.json; a bad settings.json is ignored with a warning (the board runs on
    its provisioned config rather than dropping into safe mode)."""
    raw = read_json(root, "config.json")
    schema = board_schema(app_schema, pins_schema)
    base, pin_warnings = check(raw, schema)
    secrets = read_json(root, "secrets.json")
    secrets = validate(secrets, SECRETS_SCHEMA, "", "secrets.json")
    if "mqtt_user" in secrets and "mqtt_password" not in secrets:
        raise ConfigError("mqtt_password", "missing (required with mqtt_user)", "secrets.json")
    if ring is not None:  # the LogRing scrubs these values from every later log line
        for k in secrets:
            ring.add_secret(secrets[k])
    warnings = pin_warnings
    settings = {}
    data = base
    try:
        s = read_json(root, "settings.json", missing_ok=True)
    except ConfigError as e:
        warnings.append(str(e) + ", ignored")
        s = None
    if s:
        settings = _filter_settings(s, settings_keys, warnings)
        if settings:
            try:
                data = check(merge(raw, settings), schema, "settings.json")[0]
            except ConfigError as e:
                warnings.append(str(e) + " (settings ignored)")
                settings = {}
                data = base
    if ring is not None:
        for w in warnings:
            ring.warn("config", w)
    return Config(data, secrets, settings, warnings, root, app_schema, settings_keys,
                  pins_schema)


def save_settings(cfg, patch):
    """Merge `patch` into the board's settings, validate against the full schema, write
    /settings.json atomically and return the new Config. Raises ConfigError (nothing written)
    if the patch is not allowed or not valid."""
    if not isinstance(patch, dict):
        raise ConfigError("", "expected object, got " + _show(patch), "settings.json")
    for k in patch:
        if k not in cfg.settings_keys:
            raise ConfigError(str(k), "not remote-changeable", "settings.json")
    new_settings = merge(cfg.settings, patch)
    raw = read_json(cfg.root, "config.json")
    schema = board_schema(cfg.app_schema, cfg.pins_schema)
    data = check(merge(raw, new_settings), schema, "settings.json")[0]
    store.write_atomic(_path(cfg.root, "settings.json"), json.dumps(new_settings).encode())
    return Config(data, cfg.secrets, new_settings, [], cfg.root, cfg.app_schema,
                  cfg.settings_keys, cfg.pins_schema)


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


def load_network(root="/"):
    """Best-effort subset for SAFE MODE: (data, secrets) with device_id, site and network
    validated, or None when even that is unusable. Never raises."""
    try:
        raw = read_json(root, "config.json")
        data = validate(raw, NET_SCHEMA, "", "config.json")
    except Exception:  # noqa: BLE001 - safe mode must never crash
        return None
    try:
        secrets = read_json(root, "secrets.json")
        if not isinstance(secrets, dict):
            secrets = {}
    except Exception:  # noqa: BLE001
        secrets = {}
    clean = {}
    for k in ("wifi_password", "mqtt_user", "mqtt_password"):
        if isinstance(secrets.get(k), str):
            clean[k] = secrets[k]
    return data, clean
