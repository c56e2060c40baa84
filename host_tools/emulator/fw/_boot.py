"""What the ESP32 firmware does at reset: mount the flash, set the path, run boot.py and main.py.

Started as `micropython -i _boot.py`, so the REPL follows as on the chip's UART.
"""
import sys
import os
import gc
import vfs
import _world

_world.connect()
import _flashdev  # noqa: E402

_f = open(os.getenv("BOURG_FLASH"), "r+b")
_f.seek(0, 2)
_dev = _flashdev.Flash(_f, _f.tell() // _flashdev.BLOCK, _world.hello.get("cut_at"))
_world.flash = _dev
_world.on("arm_cut", _dev.arm)
_world.on("rtc_offset", lambda m: _world.hello.__setitem__("rtc_offset", m["offset"]))
try:
    _fs = vfs.VfsLfs2(_dev)
except OSError:
    # A blank or unreadable flash is formatted, as the ESP32's inisetup does on first boot.
    vfs.VfsLfs2.mkfs(_dev)
    _fs = vfs.VfsLfs2(_dev)
vfs.mount(vfs.VfsPosix(os.getenv("BOURG_FW")), "/sim")
vfs.umount("/")
vfs.mount(_fs, "/")
os.chdir("/")
sys.path[:] = ["", "/sim", ".frozen", "/lib"]
import socket  # noqa: E402
sys.modules["usocket"] = socket
import machine  # noqa: E402,F401
import time  # noqa: E402
import select  # noqa: E402,F401
del _f, _fs
gc.collect()
_before_asyncio = gc.mem_alloc()
# asyncio's task queue is C (_asyncio), which stamps tasks with the VM's own ticks, and this
# 64-bit VM's ticks never wrap; the board's time.ticks_ms wraps at 2**30 as on the chip
# (fw/time.py). asyncio is given the VM's ticks so that its queue keeps to one clock; it is
# imported now, before any app can use it, and what it holds is reported apart, as the app's.
import asyncio.core  # noqa: E402
import utime  # noqa: E402


def _ticks_add(ticks, delta):
    # the VM's own ticks_add, with the chip's range: a sleep of 2**29 ms or more is refused
    return utime.ticks_add(ticks, time._interval(delta))


asyncio.core.ticks = _world.now_ms  # the VM's ticks, plus what virtual time skipped
asyncio.core.ticks_diff = utime.ticks_diff
asyncio.core.ticks_add = _ticks_add
del asyncio
gc.collect()
_world.send("booted", heap_used=gc.mem_alloc(), heap_free=gc.mem_free(),
            heap_asyncio=gc.mem_alloc() - _before_asyncio)
del _before_asyncio


def _module_file(_name):
    """Where the import system found a module (its file and size), or ("", 0) if frozen."""
    _rel = _name.replace(".", "/")
    for _dir in sys.path:
        if _dir == ".frozen":
            continue
        for _ext in (".mpy", ".py", "/__init__.mpy", "/__init__.py"):
            _path = (_dir + "/" if _dir else "") + _rel + _ext
            try:
                return _path, os.stat(_path)[6]
            except OSError:
                pass
    return "", 0


def _heap_report(_msg):
    """The bench's question (Board.heap_report): the heap in use after a collection, each
    loaded module's file, and the heap cost of importing the modules asked for. The table of
    interned names is printed (micropython.qstr_info) before each import and at the end: its
    growth depends on every name the VM holds, the emulator's too, so the bench takes it out
    and models the chip's own (host_tools/bench/chip_heap.py)."""
    import micropython

    _cost = {}
    for _name in _msg.get("imports", ()):
        gc.collect()
        micropython.qstr_info()
        _before = gc.mem_alloc()
        try:
            __import__(_name)
        except Exception as _e:  # noqa: BLE001 - the question's fault, not the app's
            _world.send("heap", error=_name + ": " + repr(_e))
            return
        gc.collect()
        _cost[_name] = gc.mem_alloc() - _before
    gc.collect()
    _used, _free = gc.mem_alloc(), gc.mem_free()
    micropython.qstr_info()
    _mods = [[_n] + list(_module_file(_n)) for _n in sys.modules]
    _world.send("heap", used=_used, free=_free, modules=_mods, imports=_cost)


_world.on("heap_report", _heap_report)


_FORCED_EXIT = 0x100


def _run(_name):
    """pyexec_file_if_exists (shared/runtime/pyexec.c) as the ESP32 port builds it
    (MICROPY_PYEXEC_ENABLE_EXIT_CODE_HANDLING 0): 1 when the file ran to its end or is not
    there, 0 after an uncaught exception (printed; KeyboardInterrupt too), _FORCED_EXIT after
    SystemExit."""
    try:
        if os.stat(_name)[0] & 0x4000:
            return 1
    except OSError:
        return 1
    try:
        with open(_name) as _src:
            _code = compile(_src.read(), _name, "exec")
        exec(_code, globals())
    except SystemExit:
        return _FORCED_EXIT
    except BaseException as _e:
        sys.print_exception(_e)
        return 0
    return 1


# ports/esp32/main.c: boot.py always; main.py only in the friendly REPL (not after a soft
# reboot from the raw REPL) and only if boot.py did not fail; SystemExit in either is a soft
# reboot (goto soft_reset_exit).
_ret = _run("boot.py")
if not _ret & _FORCED_EXIT and _ret != 0 and not _world.hello.get("skip_main"):
    _ret = _run("main.py")
if _ret & _FORCED_EXIT:
    _world.call("soft_reset")
del _ret
