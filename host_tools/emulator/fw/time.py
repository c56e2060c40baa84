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
    _world.sleep_ms(int(s * 1000))


def sleep_ms(ms):
    _world.sleep_ms(int(ms))


def sleep_us(us):
    if us < 2000:
        utime.sleep_us(us)
    else:
        _world.sleep_ms(us // 1000)
