"""Platform shim so the same files run on MicroPython (board, Unix port) and CPython (tests).

Only the few calls that differ live here; everything else uses the common subset.
"""
import sys
import time

# pyright: reportAssignmentType=false
# (the CPython fallbacks below stand in for the port's typed functions, untyped)

IS_MICROPYTHON = sys.implementation.name == "micropython"

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


# ticks: the ESP32 (a 32-bit port) wraps ticks at 2**30, its small-int range; emulate that
# on CPython so the pure logic sees the same arithmetic (and tests can exercise the wrap).
TICKS_PERIOD = 1 << 30
_TICKS_MASK = TICKS_PERIOD - 1
_TICKS_HALF = TICKS_PERIOD >> 1

if hasattr(time, "ticks_ms"):
    ticks_ms = time.ticks_ms
    ticks_diff = time.ticks_diff
    ticks_add = time.ticks_add
    sleep_ms = time.sleep_ms
else:

    def ticks_ms():
        return int(time.monotonic() * 1000) & _TICKS_MASK  # pyright: ignore[reportAttributeAccessIssue] CPython

    def ticks_diff(a, b):
        """Signed a - b, correct across one wrap (as MicroPython's time.ticks_diff)."""
        return ((a - b + _TICKS_HALF) & _TICKS_MASK) - _TICKS_HALF

    def ticks_add(a, delta):
        return (a + delta) & _TICKS_MASK

    def sleep_ms(ms):
        time.sleep(ms / 1000)


class Uptime:
    """Milliseconds since boot, as a plain int that does not wrap: ticks_ms wraps every 2**30
    ms (12.4 days), and the pure cores compare times with plain arithmetic. Each call adds
    the ticks since the last, so it must be called at least every 2**29 ms (6.2 days), which
    every app's tick task does many times over."""

    def __init__(self, ticks=None):
        self._ticks = ticks or ticks_ms
        self._last = self._ticks()
        self._ms = 0

    def __call__(self):
        t = self._ticks()
        self._ms += ticks_diff(t, self._last)
        self._last = t
        return self._ms


try:
    from binascii import crc32
except ImportError:  # pragma: no cover - every supported build has binascii.crc32
    from zlib import crc32  # noqa: F401

import os as _os  # noqa: E402


def fsync_all():
    """Flush filesystem caches when the port offers it (ESP32 os.sync); a no-op elsewhere.
    On CPython too: os.sync there flushes the whole host's disks, which slowed every test of
    the store and protected nothing (a host test cuts power by truncating files)."""
    f = getattr(_os, "sync", None) if IS_MICROPYTHON else None
    if f is not None:
        try:
            f()
        except OSError:
            pass


def rand_float():
    """Uniform float in [0, 1): getrandbits exists on every MicroPython build, random() may not."""
    import random

    return random.getrandbits(16) / 65536


def print_exc(exc):
    """Print a traceback on either VM (sys.print_exception vs traceback)."""
    pe = getattr(sys, "print_exception", None)
    if pe is not None:
        pe(exc)
        return
    import traceback

    traceback.print_exception(type(exc), exc, exc.__traceback__)


def collect():
    """Run the GC where it matters (MicroPython); cheap no-op on CPython."""
    if IS_MICROPYTHON:
        import gc

        gc.collect()


def forget(name):
    """Drop module `name` so its bytecode and objects go back to the heap once nothing else
    holds them (MicroPython); the next import reads it from flash again. Only its interned
    strings stay, as MicroPython never frees a qstr. A no-op on CPython, which has no heap
    to save and whose tests hold on to module identities."""
    if not IS_MICROPYTHON:
        return
    sys.modules.pop(name, None)
    dot = name.rfind(".")
    if dot > 0:
        parent = sys.modules.get(name[:dot])
        leaf = name[dot + 1:]
        if parent is not None and leaf in parent.__dict__:
            delattr(parent, leaf)


def mem_free():
    if IS_MICROPYTHON:
        import gc

        return gc.mem_free()
    return -1


def asleep_ms(ms):
    """Awaitable sleep: asyncio.sleep_ms on MicroPython, asyncio.sleep on CPython."""
    import asyncio

    f = getattr(asyncio, "sleep_ms", None)
    if f is not None:
        return f(ms)
    return asyncio.sleep(ms / 1000)
