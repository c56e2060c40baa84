"""time as on the ESP32: epoch 2000, an RTC that starts at 2000-01-01 after a power cut,
sleeps that keep servicing scheduled callbacks, and tick counters that wrap soon after boot."""
from utime import ticks_cpu  # noqa: F401
import utime
import _world

_EPOCH_2000 = 946684800
# Ticks wrap at MICROPY_PY_TIME_TICKS_PERIOD, the small-int range: 2**30 on the 32-bit chip
# (ticks_ms every 12.4 days, ticks_us every 17.9 minutes), 2**62 on this 64-bit VM, whose
# own ticks therefore never wrap. So ticks_ms/us, ticks_diff and ticks_add are the chip's
# (extmod/modtime.c with a 2**30 period). The chip starts its ticks at 0 at each boot; a
# virtual board starts them shortly before the wrap (Board.ticks_before_wrap_ms), as Linux
# starts its jiffies, so that code which forgets the wrap fails here, in a test, rather
# than on the 13th day in the street.
_MASK = (1 << 30) - 1
_HALF = (_MASK + 1) >> 1
_BEFORE_WRAP_MS = _world.hello.get("ticks_before_wrap_ms", 15000)
# The world's clock is the VM's plus what the world skipped (_world.now_ms, virtual time).
_ms_shift = (_MASK + 1 - _BEFORE_WRAP_MS - _world.now_ms()) & _MASK
_us_shift = (_MASK + 1 - _BEFORE_WRAP_MS * 1000 - utime.ticks_us()
             - _world.skip_ms * 1000) & _MASK


def ticks_ms():
    return (_world.now_ms() + _ms_shift) & _MASK


def ticks_us():
    return (utime.ticks_us() + _world.skip_ms * 1000 + _us_shift) & _MASK


def ticks_diff(end, start):
    return ((end - start + _HALF) & _MASK) - _HALF


def _interval(delta):
    """extmod/modtime.c ticks_add's check: a delta of half a period or more cannot be told
    from one the other way round."""
    delta = _world.get_int(delta)
    if not -_HALF < delta < _HALF:
        raise OverflowError("ticks interval overflow")
    return delta


def ticks_add(ticks, delta):
    return (ticks + _interval(delta)) & _MASK


def _offset():
    return _world.hello.get("rtc_offset", 0)


def time():
    return _world.unix_ns() // 1000000000 - _EPOCH_2000 + _offset()


def time_ns():
    return _world.unix_ns() - _EPOCH_2000 * 1000000000 + _offset() * 1000000000


def gmtime(secs=None):
    if secs is None:
        secs = time()
    return utime.gmtime(int(secs) + _EPOCH_2000)


localtime = gmtime


def mktime(t):
    return int(utime.mktime(t)) - _EPOCH_2000


def sleep(s):
    # extmod/modtime.c: mp_obj_get_float, so a float is fine here (not in sleep_ms/us)
    _world.sleep_ms(int(s * 1000))


def sleep_ms(ms):
    # extmod/modtime.c time_sleep_ms: mp_obj_get_int (a float raises TypeError); < 0: no wait
    ms = _world.get_int(ms)
    if ms >= 0:
        _world.sleep_ms(ms)


def sleep_us(us):
    # extmod/modtime.c time_sleep_us: mp_obj_get_int; waits only if us > 0
    us = _world.get_int(us)
    if us <= 0:
        return
    if us < 2000:
        utime.sleep_us(us)
    else:
        _world.sleep_ms(us // 1000)
