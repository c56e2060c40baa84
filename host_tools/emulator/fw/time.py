"""time as on the ESP32: epoch 2000, an RTC that starts at 2000-01-01 after a power cut, and
sleeps that keep servicing scheduled callbacks."""
from utime import ticks_ms, ticks_us, ticks_cpu, ticks_diff, ticks_add, time_ns as _host_ns  # noqa: F401
import utime
import _world

_EPOCH_2000 = 946684800


def _offset():
    return _world.hello.get("rtc_offset", 0)


def time():
    return int(utime.time()) - _EPOCH_2000 + _offset()


def time_ns():
    return _host_ns() - _EPOCH_2000 * 1000000000 + _offset() * 1000000000


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
