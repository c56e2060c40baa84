# MicroPython-side: config validation and messages
import json

from bourg import config
from bourg.config import ConfigError
from bourg.logring import LogRing

BOARD = {"schema": 1, "device_id": "pole-1", "role": "lighting", "site": "demo",
         "board": "esp32-devkitc", "pins": {"led": 2},
         "network": {"ssid": "s", "mqtt": {"host": "h", "port": "x", "tls": False}}, "app": {}}


def put(name, obj):
    with open(name, "w") as f:
        f.write(json.dumps(obj))


put("config.json", BOARD)
put("secrets.json", {"wifi_password": "topsecret1"})
try:
    config.load(".")
    raise AssertionError("no error")
except ConfigError as e:
    assert str(e) == 'config.json: network.mqtt.port: expected int 1..65535, got "x"', str(e)
    assert e.path == "network.mqtt.port" and e.file == "config.json"
BOARD["network"]["mqtt"]["port"] = True
put("config.json", BOARD)
try:
    config.load(".")
    raise AssertionError("bool accepted as int")
except ConfigError as e:
    assert "got true" in str(e)
del BOARD["network"]["mqtt"]["port"]
put("config.json", BOARD)
app_schema = {"type": "dict", "default": {}, "keys": {"k": {"type": "int", "default": 3}}}
ring = LogRing(console=False)
cfg = config.load(".", app_schema, ring=ring)
assert cfg["network"]["mqtt"]["port"] == 1883 and cfg["app"] == {"k": 3}
assert cfg.topic_prefix == "bourg/demo/pole-1/"
ring.info("x", "pw topsecret1")
assert ring.dump()[-1]["msg"] == "pw ***"
cfg = config.save_settings(cfg, {"app": {"k": 4}})
assert config.load(".", app_schema)["app"]["k"] == 4

# the checker and a schema module are dropped after a check, even one that failed to load
import sys  # noqa: E402

def put_source(name, text):
    with open(name, "w") as f:
        f.write(text)


if "" not in sys.path:
    sys.path.insert(0, "")
put_source("full_heap_schema.py", "raise MemoryError\n")
try:
    config.load(".", schema_module="full_heap_schema")
    raise AssertionError("a failed schema import passed")
except MemoryError:
    pass
assert "bourg.configcheck" not in sys.modules and "bourg.pins" not in sys.modules
put_source("small_schema.py", "SCHEMA = " + repr(app_schema) + "\n")
assert config.load(".", schema_module="small_schema")["app"]["k"] == 4
assert not [n for n in ("bourg.configcheck", "bourg.pins", "small_schema") if n in sys.modules]
# an app's secrets (its schema module's SECRETS) are checked at load too, never shown
KEY = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
put_source("keyed_schema.py", """from bourg import configcheck
SCHEMA = {"type": "dict", "default": {}}
SECRETS = {"espnow_key": configcheck.hex_key(16, None, "the node's radio key"),
           "node_keys": {"type": "dict", "default": {},
                         "values": configcheck.hex_key(16, None, "a sensor's radio key")}}
""")
put("secrets.json", {"wifi_password": "topsecret1", "espnow_key": KEY})
cfg = config.load(".", schema_module="keyed_schema")
assert cfg.secrets["espnow_key"] == KEY and cfg.secrets["node_keys"] == {}
for bad in (KEY[:30], KEY + "a", KEY[:-2] + "zz", KEY[:16] + " " + KEY[16:]):
    for secrets, path in (({"espnow_key": bad}, "espnow_key"),
                          ({"espnow_key": KEY, "node_keys": {"ps-a01": KEY, "ps-a02": bad}},
                           "node_keys.ps-a02")):
        secrets["wifi_password"] = "topsecret1"
        put("secrets.json", secrets)
        try:
            config.load(".", schema_module="keyed_schema")
            raise AssertionError("bad key accepted: " + path)
        except ConfigError as e:
            assert e.file == "secrets.json" and e.path == path, str(e)
            assert e.reason.startswith("expected an even number of hex digits, at least 32 ("), \
                e.reason
            assert bad not in str(e) and KEY[:8] not in str(e), "secret shown"
        assert not [n for n in ("bourg.configcheck", "keyed_schema") if n in sys.modules]
print("ALL OK")
