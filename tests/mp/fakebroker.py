"""In-memory MQTT 3.1.1 broker + socket for tests, in the MicroPython/CPython common subset.

Install with `umqtt_pinned.socket = broker` (it provides socket() and getaddrinfo()). Reads
follow MicroPython socket semantics: nonblocking read with no data -> None, EOF -> b"",
blocking read without enough data -> OSError(110) (the timeout firing), or BlockedForever when
the socket has no timeout (a real one would hang there, and the watchdog would reset the board).
"""
import struct
import sys

if sys.implementation.name == "micropython":
    import io

    _Stream = io.IOBase  # a Python stream select.poll (so asyncio) can wait on, via ioctl
else:
    _Stream = object  # CPython's IOBase would clash with our `closed` attribute
_POLL, _POLLIN, _POLLHUP = 3, 1, 16  # MP_STREAM_POLL and its flags (py/stream.h)


class BlockedForever(BaseException):
    """A blocking read with no timeout and no data: the board would hang. A BaseException, so
    the link's `except Exception` cannot hide it from the test."""


def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _str(b, i):
    n = (b[i] << 8) | b[i + 1]
    return bytes(b[i + 2:i + 2 + n]), i + 2 + n


class FakeSocket(_Stream):
    def __init__(self, broker):
        self.b = broker
        self.inbuf = bytearray()
        self.outbuf = bytearray()
        self.blocking = True
        self.timeout = None
        self.closed = False
        self.eof = False
        self.graceful = False
        self.connected = False

    def connect(self, addr):
        if not self.b.up:
            raise OSError(111)  # ECONNREFUSED
        self.connected = True
        self.b.sockets.append(self)
        self.b.sock = self

    def settimeout(self, t):
        self.timeout = t
        self.blocking = t is None or t > 0

    def setblocking(self, flag):
        self.settimeout(None if flag else 0)  # as MicroPython's socket: blocking = no timeout

    def write(self, buf, n=None):
        if self.closed or self.eof:
            raise OSError(104)  # ECONNRESET
        data = bytes(buf) if n is None else bytes(buf[:n])
        self.inbuf.extend(data)
        self.b._process(self)
        return len(data)

    def read(self, n):
        if self.closed:
            raise OSError(9)
        if n == 0:
            return b""
        if not self.outbuf:
            if self.eof:
                return b""
            if not self.blocking:
                return None
            self._timeout_fires()
        if len(self.outbuf) < n and self.blocking and not self.eof:
            self._timeout_fires()
        take = bytes(self.outbuf[:n])
        self.outbuf = self.outbuf[n:]
        return take

    def _timeout_fires(self):
        if self.timeout is None:
            raise BlockedForever("blocking read without a timeout")
        raise OSError(110)

    def ioctl(self, req, arg):
        """select.poll asks this: readable when the broker has written, or at EOF."""
        if req != _POLL:
            return -1  # MP_STREAM_ERROR: no file descriptor (0 would make poll watch stdin)
        ready = 0
        if self.outbuf or self.eof or self.closed:
            ready |= arg & _POLLIN
        if self.eof or self.closed:
            ready |= _POLLHUP
        return ready

    def close(self):
        if not self.closed:
            self.closed = True
            if not self.graceful:
                self.b._fire_will(self)


class Broker:
    def __init__(self):
        self.up = True
        self.sock = None
        self.sockets = []
        self.published = []  # (topic str, msg bytes, qos, retain)
        self.retained = {}
        self.subs = []
        self.log = []  # ("publish" or "subscribe", topic) in the order received
        self.connects = []  # dicts with client_id, keepalive, will, user, password
        self.pings = 0
        self.hold_puback = False
        self.held = []
        self.mute = False  # swallow everything (no CONNACK after connect, no PINGRESP)
        self.connack_rc = 0
        self.refuse_sub = False  # SUBACK 0x80: the subscription refused (an ACL)
        self.will = None

    # socket-module interface used by umqtt.simple
    def socket(self, *args):
        return FakeSocket(self)

    def getaddrinfo(self, host, port, *args):
        return [(2, 1, 0, "", (host, port))]

    # controls
    def kill(self):
        """Network drop: the client sees EOF; the broker publishes the will."""
        s = self.sock
        if s is not None and not s.eof:
            s.eof = True
            self._fire_will(s)

    def release_pubacks(self):
        s = self.sock
        for pid in self.held:
            s.outbuf.extend(b"\x40\x02" + struct.pack("!H", pid))
        self.held = []

    def inject(self, topic, msg, qos=0, pid=7):
        t = topic.encode() if isinstance(topic, str) else topic
        m = msg.encode() if isinstance(msg, str) else msg
        body = struct.pack("!H", len(t)) + t
        if qos:
            body += struct.pack("!H", pid)
        body += m
        self.sock.outbuf.extend(bytes([0x30 | (qos << 1)]) + _varint(len(body)) + body)

    def events(self, suffix="events/"):
        return [p for p in self.published if suffix in p[0]]

    def _fire_will(self, s):
        w = getattr(s, "will", None)
        if w is not None and not getattr(s, "will_done", False):
            s.will_done = True
            self.published.append((w[0], w[1], 0, w[2]))
            if w[2]:
                self.retained[w[0]] = w[1]

    def _process(self, s):
        buf = s.inbuf
        while len(buf) >= 2:
            n = 0
            sh = 0
            i = 1
            while True:
                if i >= len(buf):
                    return
                b = buf[i]
                n |= (b & 0x7F) << sh
                i += 1
                if not b & 0x80:
                    break
                sh += 7
            if len(buf) < i + n:
                return
            op = buf[0]
            body = bytes(buf[i:i + n])
            buf = buf[i + n:]
            s.inbuf = buf
            self._packet(s, op, body)

    def _packet(self, s, op, body):
        kind = op & 0xF0
        if kind == 0x10:
            self._connect(s, body)
        elif kind == 0x30:
            qos = (op >> 1) & 3
            retain = bool(op & 1)
            topic, i = _str(body, 0)
            pid = None
            if qos:
                pid = (body[i] << 8) | body[i + 1]
                i += 2
            msg = body[i:]
            t = topic.decode()
            self.published.append((t, msg, qos, retain))
            self.log.append(("publish", t))
            if retain:
                self.retained[t] = msg
            if qos == 1:
                if self.hold_puback:
                    self.held.append(pid)
                elif not self.mute:
                    s.outbuf.extend(b"\x40\x02" + struct.pack("!H", pid))
        elif kind == 0x80:
            pid = body[:2]
            topic, i = _str(body, 2)
            self.subs.append((topic.decode(), body[i]))
            self.log.append(("subscribe", topic.decode()))
            if not self.mute:
                granted = 0x80 if self.refuse_sub else body[i]
                s.outbuf.extend(b"\x90\x03" + pid + bytes([granted]))
        elif kind == 0xC0:
            self.pings += 1
            if not self.mute:
                s.outbuf.extend(b"\xd0\x00")
        elif kind == 0xE0:
            s.graceful = True

    def _connect(self, s, body):
        _name, i = _str(body, 0)
        flags = body[i + 1]
        ka = (body[i + 2] << 8) | body[i + 3]
        i += 4
        cid, i = _str(body, i)
        info = {"client_id": cid.decode(), "keepalive": ka, "clean": bool(flags & 2)}
        if flags & 4:
            wt, i = _str(body, i)
            wm, i = _str(body, i)
            s.will = (wt.decode(), wm, bool(flags & 0x20))
            info["will"] = s.will
            info["will_qos"] = (flags >> 3) & 3
        if flags & 0x80:
            u, i = _str(body, i)
            info["user"] = u.decode()
        if flags & 0x40:
            p, i = _str(body, i)
            info["password"] = p.decode()
        self.connects.append(info)
        if not self.mute:
            s.outbuf.extend(bytes([0x20, 2, 0, self.connack_rc]))
