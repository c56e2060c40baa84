"""select with the world's events folded in.

asyncio waits in `poll.ipoll`; the ESP32 runs scheduled callbacks (pin IRQs, timers, ESP-NOW)
while it waits there, so this wrapper adds the world socket to every poller and dispatches
its events, then re-polls so a ThreadSafeFlag set by a callback wakes its task at once.
"""
from uselect import POLLIN, POLLOUT, POLLERR, POLLHUP  # noqa: F401
import uselect
import _world


_MP_STREAM_POLL = 3


class poll:
    """Objects with a file descriptor go to the port's poll; Python streams (the overlay's
    ESPNow) are asked here, after each world event, since only a world event changes them.
    Given a Python stream, the Unix port's poll sleeps 1 ms between calls to its ioctl
    (MICROPY_PY_SELECT_IOCTL_CALL_PERIOD_MS), even for a zero timeout: asyncio's every look
    would cost a board 1 ms of real time that the ESP32's poll does not spend."""

    def __init__(self):
        self._p = uselect.poll()
        self._p.register(_world.fileno(), POLLIN)
        self._py = {}  # Python stream -> event mask

    def register(self, obj, eventmask=POLLIN | POLLOUT):
        if hasattr(obj, "ioctl"):
            self._py[obj] = eventmask
        else:
            self._p.register(obj, eventmask)

    def unregister(self, obj):
        if obj in self._py:
            del self._py[obj]
        else:
            self._p.unregister(obj)

    def modify(self, obj, eventmask):
        if obj in self._py:
            self._py[obj] = eventmask
        else:
            self._p.modify(obj, eventmask)

    def _ready_py(self):
        out = []
        for obj, mask in self._py.items():
            ev = obj.ioctl(_MP_STREAM_POLL, mask)
            if ev is not None and ev > 0:
                out.append((obj, ev))
        return out

    def poll(self, timeout=-1):
        return self._wait(timeout)

    def ipoll(self, timeout=-1, flags=0):
        return self._wait(timeout)

    def _wait(self, timeout):
        ws = _world.fileno()
        start = _world.now_ms()
        while True:
            t = timeout
            nt = _world.next_timer_ms()
            if nt is not None and (t < 0 or nt < t):
                t = nt
            if self._py and self._ready_py():
                t = 0
            res = _world.block(self._p, t)
            out = [r for r in res if r[0] is not ws]
            if len(out) != len(res):
                _world.service(0)
                if not out:
                    out = [r for r in self._p.poll(0) if r[0] is not ws]
            else:
                _world.service(0)
            if self._py:
                out += self._ready_py()
            if out:
                return out
            if timeout == 0:
                return out
            if timeout > 0:
                now = _world.now_ms()
                timeout -= now - start
                start = now
                if timeout <= 0:
                    return out
