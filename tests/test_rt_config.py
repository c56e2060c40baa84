"""bourg.config: loading, merging and the error messages a field technician will read."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "mp"))
import hostsetup  # noqa: F401
import pytest
from bourg import config, configcheck
from bourg.config import ConfigError
from bourg.logring import LogRing
from hypothesis import given
from hypothesis import strategies as st

BOARD = {"schema": 1, "device_id": "pole-001", "role": "lighting", "site": "demo-town",
         "board": "esp32-devkitc", "pins": {"led": 25},
         "network": {"ssid": "street", "mqtt": {"host": "10.0.0.2", "port": 1883,
                                                 "keepalive": 30, "tls": False}},
         "app": {"level": 50}}
SECRETS = {"wifi_password": "wifi-secret-1", "mqtt_user": "pole", "mqtt_password": "mq-pass-9"}
TLS = {"tls_ca": "MIIBkjCCATi=", "tls_cert": "MIIBYzCCAQm=", "tls_key": "MIGHAgEAMB8="}
APP = {"type": "dict", "keys": {"level": {"type": "int", "min": 0, "max": 100},
                                "mode": {"type": "str", "enum": ("auto", "off"),
                                         "default": "auto"}}}


def put(root, name, obj):
    with open(os.path.join(root, name), "w") as f:
        f.write(obj if isinstance(obj, str) else json.dumps(obj))


@pytest.fixture
def root(tmp_path):
    put(tmp_path, "config.json", BOARD)
    put(tmp_path, "secrets.json", SECRETS)
    return str(tmp_path)


def err_of(root, **kw):
    with pytest.raises(ConfigError) as ei:
        config.load(root, **kw)
    return str(ei.value)


def with_board(root, **changes):
    b = json.loads(json.dumps(BOARD))
    for path, v in changes.items():
        d = b
        keys = path.split("__")
        for k in keys[:-1]:
            d = d[k]
        if v is KeyError:
            del d[keys[-1]]
        else:
            d[keys[-1]] = v
    put(root, "config.json", b)


def test_load_ok(root):
    cfg = config.load(root, APP)
    assert cfg.device_id == "pole-001" and cfg["app"] == {"level": 50, "mode": "auto"}
    assert cfg.topic_prefix == "bourg/demo-town/pole-001/"
    assert cfg.secrets["mqtt_user"] == "pole"
    assert "secret" not in repr(cfg)


def test_port_message(root):
    with_board(root, network__mqtt__port="x")
    assert err_of(root) == 'config.json: network.mqtt.port: expected int 1..65535, got "x"'
    with_board(root, network__mqtt__port=70000)
    assert err_of(root) == "config.json: network.mqtt.port: expected int 1..65535, got 70000"
    with_board(root, network__mqtt__port=True)
    assert "got true" in err_of(root)


def test_missing_unknown_enum(root):
    with_board(root, network__ssid=KeyError)
    assert err_of(root) == "config.json: network.ssid: missing (expected str 1..32 chars)"
    with_board(root, network__mqtt__hots="x")
    assert err_of(root) == "config.json: network.mqtt.hots: unknown key"
    with_board(root, role="bench")
    assert err_of(root).startswith('config.json: role: expected one of "lighting", "locker"')
    with_board(root, device_id="pole/1")
    assert "device_id: invalid character '/'" in err_of(root)
    with_board(root, pins={"led": 99})
    assert err_of(root) == "config.json: pins.led: GPIO 99 does not exist on the ESP32"


def test_defaults_filled(root):
    with_board(root, network__mqtt__port=KeyError, network__mqtt__keepalive=KeyError,
               network__mqtt__tls=KeyError)
    put(root, "secrets.json", dict(SECRETS, **TLS))  # TLS unless a config says no
    cfg = config.load(root)
    assert cfg["network"]["mqtt"] == {"host": "10.0.0.2", "port": 1883, "keepalive": 30,
                                      "tls": True}


def test_app_schema(root):
    with_board(root, app={"level": 500})
    assert err_of(root, app_schema=APP) == \
        "config.json: app.level: expected int 0..100, got 500"
    with_board(root, app={})
    assert err_of(root, app_schema=APP) == \
        "config.json: app.level: missing (expected int 0..100)"


def test_bad_files(root):
    put(root, "config.json", "{not json")
    assert err_of(root).startswith("config.json: invalid JSON")
    os.remove(os.path.join(root, "config.json"))
    assert err_of(root) == "config.json: missing file"


def test_secrets_never_shown(root):
    put(root, "secrets.json", {"wifi_password": 12345678, "mqtt_password": "zz"})
    msg = err_of(root)
    assert msg == "secrets.json: wifi_password: expected str <= 64 chars, got a int (hidden)"
    put(root, "secrets.json", {"wifi_password": "x" * 70})
    assert "xxxx" not in err_of(root)
    put(root, "secrets.json", {"wifi_password": "w", "mqtt_user": "u"})
    assert "mqtt_password" in err_of(root)


def test_tls_needs_its_three_keys_in_base64(root):
    """A config that asks for TLS without the keys would never reach its broker: refused at
    boot (SAFE MODE names the key), as the host refuses it before a deploy."""
    with_board(root, network__mqtt__tls=True)
    put(root, "secrets.json", dict(SECRETS, tls_ca=TLS["tls_ca"], tls_cert=TLS["tls_cert"]))
    assert err_of(root) == ("secrets.json: tls_key: missing (required with "
                            "network.mqtt.tls)")
    put(root, "secrets.json", dict(SECRETS, **dict(TLS, tls_cert="not base64!")))
    msg = err_of(root)
    assert msg.startswith("secrets.json: tls_cert: expected base64") and "not base64" not in msg
    put(root, "secrets.json", dict(SECRETS, **TLS))
    assert config.load(root).data["network"]["mqtt"]["tls"] is True
    with_board(root, network__mqtt__tls="yes")
    assert err_of(root).startswith("config.json: network.mqtt.tls: expected bool")


def test_secrets_registered_for_scrubbing(root):
    ring = LogRing(console=False)
    config.load(root, ring=ring)
    ring.info("t", "pw is wifi-secret-1 and mq-pass-9")
    assert ring.dump()[-1]["msg"] == "pw is *** and ***"


def test_settings_merge_and_rejection(root):
    put(root, "settings.json", {"app": {"level": 80}})
    cfg = config.load(root, APP)
    assert cfg["app"]["level"] == 80 and cfg.settings == {"app": {"level": 80}}
    put(root, "settings.json", {"app": {"level": 800}, "network": {"ssid": "evil"}})
    ring = LogRing(console=False)
    cfg = config.load(root, APP, ring=ring)
    assert cfg["app"]["level"] == 50 and cfg["network"]["ssid"] == "street"
    assert any("not remote-changeable" in w for w in cfg.warnings)
    assert any("settings.json: app.level: expected int 0..100, got 800" in w
               for w in cfg.warnings)
    put(root, "settings.json", "garbage{")
    cfg = config.load(root, APP)
    assert cfg["app"]["level"] == 50 and "invalid JSON" in cfg.warnings[0]


def test_save_settings(root):
    cfg = config.load(root, APP)
    cfg2 = config.save_settings(cfg, {"app": {"mode": "off"}})
    assert cfg2["app"] == {"level": 50, "mode": "off"}
    assert config.load(root, APP)["app"]["mode"] == "off"
    with pytest.raises(ConfigError) as ei:
        config.save_settings(cfg2, {"app": {"mode": "disco"}})
    assert str(ei.value).startswith("settings.json: app.mode: expected one of")
    with pytest.raises(ConfigError):
        config.save_settings(cfg2, {"network": {}})
    assert config.load(root, APP)["app"]["mode"] == "off"  # nothing written on error


def test_settings_keys_may_name_one_key_of_a_section(root):
    """A locker lists "app.open_window_s" and no more: the pins and compartments in its app
    section are not remote-changeable, in a patch or in a settings file already on flash."""
    keys = ("app.mode",)
    cfg = config.load(root, APP, keys)
    cfg2 = config.save_settings(cfg, {"app": {"mode": "off"}})
    assert cfg2["app"] == {"level": 50, "mode": "off"}
    with pytest.raises(ConfigError) as ei:
        config.save_settings(cfg2, {"app": {"mode": "auto", "level": 0}})
    assert str(ei.value) == "settings.json: app.level: not remote-changeable"
    assert config.load(root, APP, keys)["app"] == {"level": 50, "mode": "off"}  # unwritten
    with pytest.raises(ConfigError) as ei:
        config.save_settings(cfg2, {"pins": {"led": 2}})
    assert str(ei.value) == "settings.json: pins: not remote-changeable"
    put(root, "settings.json", {"app": {"mode": "off", "level": 0}})  # older firmware's
    cfg3 = config.load(root, APP, keys)
    assert cfg3["app"] == {"level": 50, "mode": "off"} and cfg3.settings == {"app": {"mode": "off"}}
    assert "settings.json: app.level: not remote-changeable, ignored" in cfg3.warnings


def test_load_network_for_safe_mode(root):
    with_board(root, app={"level": "bad"}, role="nope")
    got = config.load_network(root)
    assert got is not None
    data, secrets = got
    assert data["network"]["mqtt"]["port"] == 1883 and secrets["mqtt_user"] == "pole"
    with_board(root, network=KeyError)
    assert config.load_network(root) is None
    put(root, "config.json", "[")
    assert config.load_network(root) is None


@given(st.one_of(st.integers(), st.text(max_size=5), st.floats(allow_nan=False), st.none(),
                 st.booleans(), st.lists(st.integers(), max_size=3)))
def test_validate_int_range_property(v):
    spec = {"type": "int", "min": 1, "max": 10}
    ok = type(v) is int and 1 <= v <= 10
    try:
        assert configcheck.validate(v, spec, "a.b") == v
        assert ok
    except ConfigError as e:
        assert not ok
        assert str(e).startswith("config.json: a.b: expected int 1..10, got ")


def test_validate_lists_and_maps():
    spec = {"type": "list", "items": {"type": "str"}, "maxlen": 2}
    with pytest.raises(ConfigError) as ei:
        configcheck.validate(["a", 3], spec, "x")
    assert str(ei.value) == "config.json: x[1]: expected str, got 3"
    with pytest.raises(ConfigError) as ei:
        configcheck.validate(["a", "b", "c"], spec, "x")
    assert "got 3 items" in str(ei.value)
    spec = {"type": "dict", "values": {"type": "num"}}
    assert configcheck.validate({"a": 1.5}, spec) == {"a": 1.5}


# ---- the apps' secrets: checked at load by the app's schema module (SECRETS) ---------------
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEY = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"  # 16 bytes, as the registry makes radio keys
# shipped config -> (app folder, schema module, the key's path, valid secrets of that role)
APP_SECRETS = {
    "pole-01": ("lighting", "pole_schema", "wave_key", {"wave_key": KEY}),
    "locker-01": ("locker", "locker_schema", "bank_key", {"bank_key": KEY * 2}),
    "ps-a01": ("parking_sensor", "sensor_schema", "espnow_key", {"espnow_key": KEY}),
    "totem-01": ("parking_sensor", "totem_schema", "node_keys.ps-a02",
                 {"node_keys": {"ps-a01": KEY, "ps-a02": KEY}}),
}
BAD_KEYS = {"short": KEY[:30], "odd": KEY + "a", "non-hex": KEY[:-2] + "zz",
            "spaced": KEY[:16] + " " + KEY[16:], "not a str": 12345678901234567890}


def app_root(tmp_path, monkeypatch, name, secrets):
    folder, module = APP_SECRETS[name][:2]
    monkeypatch.syspath_prepend(os.path.join(ROOT, "firmware", folder))
    with open(os.path.join(ROOT, "board_configs", name + ".json")) as f:
        put(tmp_path, "config.json", json.load(f))
    put(tmp_path, "secrets.json", dict({"wifi_password": "wifi-secret-1"}, **TLS, **secrets))
    return str(tmp_path), module


def with_secret(secrets, path, value):
    s = json.loads(json.dumps(secrets))
    keys = path.split(".")
    d = s
    for k in keys[:-1]:
        d = d[k]
    if value is KeyError:
        del d[keys[-1]]
    else:
        d[keys[-1]] = value
    return s


@pytest.mark.parametrize("name", sorted(APP_SECRETS))
def test_app_secrets_valid_load(tmp_path, monkeypatch, name):
    good = APP_SECRETS[name][3]
    root, module = app_root(tmp_path, monkeypatch, name, good)
    cfg = config.load(root, schema_module=module)
    for k in good:
        assert cfg.secrets[k] == good[k]


@pytest.mark.parametrize("bad", sorted(BAD_KEYS))
@pytest.mark.parametrize("name", sorted(APP_SECRETS))
def test_app_secret_keys_are_checked_at_load_and_never_shown(tmp_path, monkeypatch, name,
                                                             bad):
    """A short, odd, non-hex or non-string radio or bank key is refused at boot, by the
    checker, with the file and key path, and without its value."""
    _folder, _module, path, good = APP_SECRETS[name]
    value = BAD_KEYS[bad]
    root, module = app_root(tmp_path, monkeypatch, name, with_secret(good, path, value))
    with pytest.raises(ConfigError) as ei:
        config.load(root, schema_module=module)
    e = ei.value
    assert (e.file, e.path) == ("secrets.json", path), str(e)
    assert "hex digits, at least 32" in e.reason and "bourg provision" in e.reason, str(e)
    assert str(value) not in str(e) and KEY[:8] not in str(e)


@pytest.mark.parametrize("name", ["pole-01", "locker-01", "ps-a01"])
def test_a_missing_app_key_is_refused_at_load(tmp_path, monkeypatch, name):
    _folder, _module, path, good = APP_SECRETS[name]
    root, module = app_root(tmp_path, monkeypatch, name, with_secret(good, path, KeyError))
    assert err_of(root, schema_module=module).startswith(
        "secrets.json: " + path + ": missing (expected an even number of hex digits, at least "
        "32 (")


def test_a_totem_refuses_a_bay_whose_sensor_has_no_key(tmp_path, monkeypatch):
    """node_keys is checked by form, then against config.json's bays (totem_schema's
    SECRETS_CHECK): a bay with no key names its sensor, at boot as before a deploy."""
    root, module = app_root(tmp_path, monkeypatch, "totem-01", {"node_keys": {"ps-a01": KEY}})
    with pytest.raises(ConfigError) as ei:
        config.load(root, schema_module=module)
    assert (ei.value.file, ei.value.path) == ("secrets.json", "node_keys.ps-a02"), str(ei.value)
    assert "(bay A02)" in ei.value.reason and KEY[:8] not in str(ei.value)


def test_a_totem_settings_change_that_adds_a_bay_with_no_key_is_refused(tmp_path,
                                                                       monkeypatch):
    """A remote settings change may add bays: one whose sensor has no key is refused when it
    comes (nothing written) and ignored at the next boot, never a safe mode."""
    good = APP_SECRETS["totem-01"][3]
    root, module = app_root(tmp_path, monkeypatch, "totem-01", good)
    cfg = config.load(root, schema_module=module)
    bays = cfg["app"]["bays"] + [{"node": 9, "device": "ps-a09", "bay": "A09", "zone": "A"}]
    with pytest.raises(ConfigError) as ei:
        config.save_settings(cfg, {"app": {"bays": bays}})
    assert (ei.value.file, ei.value.path) == ("settings.json", "app.bays[2].device")
    assert "no key for ps-a09 (bay A09) in secrets.json's node_keys" in ei.value.reason
    assert not os.path.exists(os.path.join(root, "settings.json"))
    put(tmp_path, "settings.json", {"app": {"bays": bays}})  # as if written by an older app
    again = config.load(root, schema_module=module)
    assert len(again["app"]["bays"]) == 2 and again.settings == {}
    assert any("app.bays[2].device" in w for w in again.warnings), again.warnings


@pytest.mark.parametrize(("totem", "ok"), [("", True), ("a0B1c2D3e4F5", True),
                                           ("a0b1c2d3e4f", False), ("a0b1c2d3e4f5a6", False),
                                           ("a0b1c2d3e4fg", False)])
def test_sensor_totem_mac(tmp_path, monkeypatch, totem, ok):
    root, module = app_root(tmp_path, monkeypatch, "ps-a01", {"espnow_key": KEY})
    with open(os.path.join(ROOT, "board_configs", "ps-a01.json")) as f:
        cfg = json.load(f)
    cfg["app"]["totem"] = totem
    put(root, "config.json", cfg)
    if ok:
        assert config.load(root, schema_module=module)["app"]["totem"] == totem
    else:
        assert err_of(root, schema_module=module) == \
            'config.json: app.totem: expected 12 hex digits (the totem\'s MAC, or "" to ' \
            'broadcast)'


def test_hex_key_spec():
    spec = configcheck.hex_key(16, None, "a key")
    assert configcheck.validate(KEY.upper(), spec) == KEY.upper()
    assert configcheck.describe(spec) == "an even number of hex digits, at least 32 (a key)"
    assert configcheck.describe(configcheck.hex_key(6, 6, "a MAC")) == "12 hex digits (a MAC)"
    assert configcheck.describe(configcheck.hex_key(16, 32, "k")) == \
        "an even number of hex digits, 32 to 64 (k)"
    for bad in ("", "0" * 30, "0" * 33, "0" * 31 + "x", "0" * 66):
        with pytest.raises(ConfigError):
            configcheck.validate(bad, configcheck.hex_key(16, 32, "k"), "k")
    assert configcheck.secrets_schema(None) is configcheck.SECRETS_SCHEMA
    merged = configcheck.secrets_schema({"wave_key": spec})
    assert merged["secret"] and merged["extra"] and "wave_key" in merged["keys"]
    assert "wifi_password" in merged["keys"] and "wave_key" not in \
        configcheck.SECRETS_SCHEMA["keys"]
