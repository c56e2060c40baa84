"""The MQTT link's socket: a timeout on every read (umqtt.simple blocks), TLS after connect,
and a task that wakes the link when the broker sends a byte.

Why a separate module: mqtt_link.py compiled from source on a board's heap needs one parse
tree for the whole file; the socket layer apart keeps each under it.
"""


class SocketModule:
    """Stands in for umqtt.simple's `socket` module so sockets get a timeout before connect(),
    and a TLS session after it when `tls` is (context, server host name)."""

    def __init__(self, mod, timeout_s):
        self._mod = mod
        self.timeout_s = timeout_s
        self.tls = None

    def socket(self, *args):
        s = self._mod.socket(*args)
        try:
            s.settimeout(self.timeout_s)
        except (AttributeError, OSError):
            pass
        no_delay(s, self._mod)
        if self.tls is not None:
            from bourg.mqtt_tls import TlsSocket

            return TlsSocket(s, self.tls[0], self.tls[1])
        return s

    def getaddrinfo(self, *args):
        return self._mod.getaddrinfo(*args)


def no_delay(s, mod):
    """Send each write at once (TCP_NODELAY). umqtt writes a packet in pieces (header, topic,
    payload): with Nagle's algorithm the later pieces wait for the broker's delayed ACK, so a
    reply or a PINGREQ leaves up to a few hundred ms late. ports/esp32/modsocket.c takes the
    option; a socket module without it keeps Nagle."""
    try:
        s.setsockopt(getattr(mod, "IPPROTO_TCP", 6), getattr(mod, "TCP_NODELAY", 1), 1)
    except (AttributeError, OSError, TypeError):
        pass


def patch_socket_timeout(client_cls, timeout_s, tls=None):
    """Give umqtt.simple's connect() a socket timeout (its module-level `socket`), and TLS
    when `tls` is (context, server host name)."""
    import sys

    mod = sys.modules.get(getattr(client_cls, "__module__", ""), None)
    if mod is None or not hasattr(mod, "socket"):
        return False
    cur = mod.socket
    if not isinstance(cur, SocketModule):
        cur = SocketModule(cur, timeout_s)
        mod.socket = cur  # pyright: ignore[reportAttributeAccessIssue] umqtt's module
    cur.timeout_s = timeout_s
    cur.tls = tls
    return True


class SockGuard:
    """Wraps the connected socket: counts received bytes (any traffic proves the peer alive) and
    turns umqtt's setblocking(True) into a timeout so a half-received packet cannot hang us."""

    def __init__(self, sock, timeout_s):
        self.s = sock
        self.timeout_s = timeout_s
        self.rx = 0
        self.unpollable = False  # the watcher could not wait on it (watch())

    def pollable(self):
        """What asyncio can wait on: the TLS session (it knows its decrypted backlog) or the
        socket."""
        return getattr(self.s, "s", None) or self.s

    def read(self, n):
        data = self.s.read(n)
        if data:
            self.rx += len(data)
        return data

    def write(self, buf, n=None):
        if n is None:
            return self.s.write(buf)
        return self.s.write(buf, n)

    def setblocking(self, flag):
        if flag:
            self.s.settimeout(self.timeout_s)
        else:
            self.s.setblocking(False)

    def settimeout(self, t):
        self.s.settimeout(t)

    def close(self):
        self.s.close()


def write_all(sock, data):
    mv = memoryview(data)
    off = 0
    while off < len(data):
        n = sock.write(mv[off:])
        if n is None or n <= 0:
            raise OSError(11)  # EAGAIN: socket buffer full for longer than the timeout
        off += n


async def _readable(sock):
    # as the image's frozen aioespnow waits on its ESPNow object: asyncio's own IO queue
    import asyncio

    yield asyncio.core._io_queue.queue_read(sock)  # pyright: ignore[reportAttributeAccessIssue]


async def watch(g, wake, drained):
    """Wake the link each time the broker's bytes are there to read; then wait for `drained`
    (an asyncio.Event the link sets once it has read), since poll reports the bytes until
    they are read. Readiness only, never a read: a read here could find the bytes already
    taken by the link and block the whole board in the socket's timeout. A socket asyncio
    cannot wait on ends the watch with g.unpollable set: the link then polls."""
    import asyncio

    try:
        sock = g.pollable()
        while True:
            await _readable(sock)  # pyright: ignore[reportGeneralTypeIssues] a MicroPython coroutine
            drained.clear()
            wake()
            await drained.wait()
    except asyncio.CancelledError:
        raise
    except Exception:  # noqa: BLE001 - TypeError: not a stream poll can wait on
        g.unpollable = True
        wake()
