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


# -- Partition: ports/esp32/esp32_partition.c over the board's table (emulator/partitions.py)
_NATIVE = 4096


def _esp_err(code, name):
    # check_esp_err_: OSError(-code, name); ESP_FAIL (-1) becomes OSError(1, ...)
    raise OSError(-code, name)


def _check(code):
    if code:
        names = {-1: "ESP_FAIL", 0x102: "ESP_ERR_INVALID_ARG", 0x104: "ESP_ERR_INVALID_SIZE",
                 0x105: "ESP_ERR_NOT_FOUND", 0x1503: "ESP_ERR_OTA_VALIDATE_FAILED"}
        _esp_err(code, names.get(code, "ESP_ERR"))


def _info():
    return _world.call("part_info")


class Partition:
    BOOT = 0
    RUNNING = 1
    TYPE_APP = 0
    TYPE_DATA = 1

    def __init__(self, id, *block_size):  # both positional only, as the port's make_new
        if len(block_size) > 1:
            raise TypeError("function takes 2 positional arguments but %d were given"
                            % (2 + len(block_size)))
        block_size = block_size[0] if block_size else _NATIVE
        info = _info()
        if isinstance(id, int):
            if id == Partition.BOOT:
                label = info["boot"]
            elif id == Partition.RUNNING:
                label = info["running"]
            else:
                raise ValueError
        else:
            label = None
            for t in (0, 1):  # esp_partition_find_first: an app of that label, else data
                for row in info["table"]:
                    if row[1] == t and row[0] == id and label is None:
                        label = id
        self._set(info, label, block_size)

    def _set(self, info, label, block_size):
        row = None
        for r in info["table"]:
            if r[0] == label:
                row = r
        if row is None:
            raise OSError(2)  # esp32_partition_new(NULL): MP_ENOENT
        self._row = row
        self._bs = block_size
        self._cache = bytearray(_NATIVE) if block_size < _NATIVE else None

    @staticmethod
    def find(type=0, subtype=0xFF, label=None, block_size=_NATIVE):
        info = _info()
        out = []
        for r in info["table"]:
            if type in (0xFF, r[1]) and subtype in (0xFF, r[2]) and label in (None, r[0]):
                out.append(_Found(info, r[0], block_size))
        return out

    def __repr__(self):
        r = self._row
        return ("<Partition type=%u, subtype=%u, address=%u, size=%u, label=%s, encrypted=0>"
                % (r[1], r[2], r[3], r[4], r[0]))

    def info(self):
        r = self._row
        return (r[1], r[2], r[3], r[4], r[0], False)

    # esp_partition_read/write/erase_range; "vfs" is the filesystem's own flash
    def _range(self, off, n):
        if off < 0 or off > self._row[4]:
            _esp_err(0x102, "ESP_ERR_INVALID_ARG")
        if off + n > self._row[4]:
            _esp_err(0x104, "ESP_ERR_INVALID_SIZE")

    def _read(self, off, buf):
        self._range(off, len(buf))
        if self._row[0] == "vfs":
            _world.flash.readblocks(off // _NATIVE, buf, off % _NATIVE)
            return
        import binascii
        data = binascii.unhexlify(_world.call("part_read", label=self._row[0], off=off,
                                              n=len(buf)))
        buf[:len(data)] = data

    def _write(self, off, buf):
        self._range(off, len(buf))
        if self._row[0] == "vfs":
            _world.flash.writeblocks(off // _NATIVE, buf, off % _NATIVE)
            return
        import binascii
        _world.flash._count()  # a flash write, where a power cut can fall
        _world.call("part_write", label=self._row[0], off=off,
                    data=binascii.hexlify(bytes(buf)).decode())

    def _erase(self, off, n):
        self._range(off, n)
        if n % _NATIVE:
            _esp_err(0x104, "ESP_ERR_INVALID_SIZE")
        if off % _NATIVE:
            _esp_err(0x102, "ESP_ERR_INVALID_ARG")
        if self._row[0] == "vfs":
            for b in range(off // _NATIVE, (off + n) // _NATIVE):
                _world.flash.ioctl(6, b)
            return
        _world.flash._count()
        _world.call("part_erase", label=self._row[0], off=off, n=n)

    def readblocks(self, block_num, buf, offset=0):
        self._read(block_num * self._bs + offset, buf)

    def writeblocks(self, block_num, buf, offset=None):
        off = block_num * self._bs
        if offset is None:  # a simple write: erase first
            if self._bs >= _NATIVE:
                self._erase(off, len(buf))
            else:
                addr = (off // _NATIVE) * _NATIVE
                o = off % _NATIVE
                top = off + len(buf)
                c = self._cache
                while addr < top:
                    if o > 0 or top < addr + _NATIVE:
                        self._read(addr, c)
                    self._erase(addr, _NATIVE)
                    if o > 0:
                        self._write(addr, memoryview(c)[:o])
                    if top < addr + _NATIVE:
                        self._write(top, memoryview(c)[top - addr:])
                    o = 0
                    addr += _NATIVE
        else:
            off += offset
        self._write(off, buf)

    def ioctl(self, op, arg):
        if op in (1, 2, 3):
            return 0
        if op == 4:
            return self._row[4] // self._bs
        if op == 5:
            return self._bs
        if op == 6:
            if self._bs != _NATIVE:
                return -22  # -MP_EINVAL
            self._erase(arg * _NATIVE, _NATIVE)
            return 0
        return None

    def set_boot(self):
        _check(_world.call("part_set_boot", label=self._row[0]))

    def get_next_update(self):
        return _Found(_info(), _world.call("part_next", start=self._row[0]), _NATIVE)

    @classmethod
    def mark_app_valid_cancel_rollback(cls):
        _check(_world.call("part_mark_valid"))


class _Found(Partition):
    """A Partition made from a table row (find, get_next_update), as the port makes one from
    an esp_partition_t; MicroPython has no object.__new__ to skip __init__ with."""

    def __init__(self, info, label, block_size):
        self._set(info, label, block_size)
