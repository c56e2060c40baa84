"""select with the world's events folded in.

asyncio waits in `poll.ipoll`; the ESP32 runs scheduled callbacks (pin IRQs, timers, ESP-NOW)
while it waits there, so this wrapper adds the world socket to every poller and dispatches
its events, then re-polls so a ThreadSafeFlag set by a callback wakes its task at once.
"""
from uselect import POLLIN, POLLOUT, POLLERR, POLLHUP  # noqa: F401
import uselect
import _world


class poll:
    def __init__(self):
        self._p = uselect.poll()
        self._p.register(_world.fileno(), POLLIN)

    def register(self, obj, eventmask=POLLIN | POLLOUT):
        self._p.register(obj, eventmask)

    def unregister(self, obj):
        self._p.unregister(obj)

    def modify(self, obj, eventmask):
        self._p.modify(obj, eventmask)

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
            res = _world.block(self._p, t)
            out = [r for r in res if r[0] is not ws]
            if len(out) != len(res):
                _world.service(0)
                if not out:
                    out = [r for r in self._p.poll(0) if r[0] is not ws]
            else:
                _world.service(0)
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
