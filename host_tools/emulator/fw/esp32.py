"""esp32 for a virtual board: NVS (kept by the world, like its own flash partition) and wake
sources for deep sleep."""
import _world

WAKEUP_ALL_LOW = False
WAKEUP_ANY_HIGH = True
HEAP_DATA = 4  # MALLOC_CAP_8BIT (modesp32.c)
HEAP_EXEC = 1  # MALLOC_CAP_EXEC

_ESP_ERR_NVS_NOT_FOUND = -4354
_ESP_ERR_NVS_INVALID_LENGTH = -4364
_ESP_ERR_NVS_KEY_TOO_LONG = -4361


class NVS:
    """Values are seen by get_* at once; only commit() makes them survive a reset."""

    def __init__(self, namespace):
        if not 0 < len(namespace) <= 15:
            raise OSError(_ESP_ERR_NVS_KEY_TOO_LONG)
        self._ns = namespace
        self._vals = dict(_world.hello.get("nvs", {}).get(namespace, {}))

    def _key(self, key):
        if not 0 < len(key) <= 15:
            raise OSError(_ESP_ERR_NVS_KEY_TOO_LONG)
        return key

    def set_i32(self, key, value):
        if not -2147483648 <= value <= 2147483647:
            raise OverflowError("overflow converting long int to machine word")
        self._vals[self._key(key)] = ["i32", value]

    def get_i32(self, key):
        v = self._vals.get(key)
        if v is None or v[0] != "i32":
            raise OSError(_ESP_ERR_NVS_NOT_FOUND)
        return v[1]

    def set_blob(self, key, value):
        import binascii
        self._vals[self._key(key)] = ["blob", binascii.hexlify(bytes(value)).decode()]

    def get_blob(self, key, buffer):
        import binascii
        v = self._vals.get(key)
        if v is None or v[0] != "blob":
            raise OSError(_ESP_ERR_NVS_NOT_FOUND)
        data = binascii.unhexlify(v[1])
        if len(buffer) < len(data):
            raise OSError(_ESP_ERR_NVS_INVALID_LENGTH)
        buffer[:len(data)] = data
        return len(data)

    def erase_key(self, key):
        if key not in self._vals:
            raise OSError(_ESP_ERR_NVS_NOT_FOUND)
        del self._vals[key]

    def commit(self):
        _world.hello.setdefault("nvs", {})[self._ns] = dict(self._vals)
        _world.call("nvs_commit", ns=self._ns, vals=self._vals)


def wake_on_ext0(pin, level):
    _world.send("wake_ext0", pin=None if pin is None else pin._id, level=int(level))


def wake_on_ext1(pins, level):
    _world.send("wake_ext1", pins=[p._id for p in pins] if pins else [], level=int(level))


def raw_temperature():
    return 128


def idf_heap_info(capabilities):
    return [(240000, 120000, 100000, 110000)]
