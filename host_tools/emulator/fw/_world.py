"""Board side of the link to the emulator's world (a CPython process).

Every simulated peripheral talks to the world over one TCP loopback socket with newline-delimited
JSON. Requests that need an answer (I2C, ADC, ESP-NOW sync sends) block on a reply; output changes
are fire-and-forget; the world pushes input edges and radio frames as events, which are dispatched
whenever the board polls (asyncio's poll, sleeps, pin reads), as a real chip runs its scheduled
callbacks between bytecodes.
"""
import json
import os
import usocket
import uselect
import utime

_sock = None
_poller = None
_buf = b""
_next_id = 0
_replies = {}
_handlers = {}
_timers = []  # list of [deadline_ms, period_ms or 0, callback, arg]
hello = {}
flash_writes = 0
# The world's clock (host_tools/emulator/clock.py): the VM's monotonic ms plus the idle time
# the world has skipped. In virtual time the board says until when it waits each time it
# blocks (block, say_idle), so the world knows when every board only waits.
virtual = False
skip_ms = 0
_events_seen = [0]  # events received, as the world counts those it sent
_idle_said = [None]  # the deadline last said, None once the board said anything else


# utime.ticks_ms is the host's CLOCK_MONOTONIC in ms masked to 30 bits: it wraps every 12.4
# days of the host's uptime, while the world's clock does not. _mono holds the unmasked ms
# and the ticks_ms it was read at; the hello gives the host's high bits (unmasked).
_TICKS_MASK = (1 << 30) - 1
_mono = [utime.ticks_ms(), utime.ticks_ms()]


def unmasked(host_ms, ticks, slack_ms=1000):
    """The unmasked ms of a ticks_ms reading taken at most 12 days after the host read its
    monotonic clock as host_ms (the two may round the same instant 1 ms apart: slack)."""
    base = host_ms - slack_ms
    return base + ((ticks - base) & _TICKS_MASK)


def now_ms():
    """Monotonic ms on the world's clock (WorldClock.now_ms on the host)."""
    t = utime.ticks_ms()
    _mono[0] += (t - _mono[1]) & _TICKS_MASK
    _mono[1] = t
    return _mono[0] + skip_ms


def unix_ns():
    """Unix time in ns on the world's clock."""
    return utime.time_ns() + skip_ms * 1000000


def _on_clock(msg):
    global skip_ms
    skip_ms = msg["skip_ms"]


def say_idle(timeout_ms):
    """About to block for timeout_ms (-1: until an event): tell the world, in virtual time."""
    if not virtual or timeout_ms == 0:
        return
    until = -1 if timeout_ms < 0 else now_ms() + timeout_ms
    if until != _idle_said[0]:
        send("idle", until=until, seen=_events_seen[0])
        _idle_said[0] = until


def block(poller, timeout_ms):
    """poller.poll(timeout_ms), saying first that the board waits if it is to block."""
    res = poller.poll(0)
    if not res and timeout_ms != 0:
        say_idle(timeout_ms)
        res = poller.poll(timeout_ms)
    return res


def connect():
    global _sock, _poller, hello
    addr = os.getenv("BOURG_WORLD")
    board = os.getenv("BOURG_BOARD")
    host, port = addr.rsplit(":", 1)
    s = usocket.socket()
    s.connect(usocket.getaddrinfo(host, int(port))[0][-1])
    try:
        # TCP_NODELAY (IPPROTO_TCP 6, option 1): without it Nagle holds each small message
        # until the last is acked, and the host's delayed ACK adds up to 40 ms per event.
        s.setsockopt(6, 1, 1)
    except OSError:
        pass
    _sock = s
    _poller = uselect.poll()
    _poller.register(s, uselect.POLLIN)
    hello = call("hello", board=board)
    global virtual, skip_ms
    virtual = hello.get("virtual", False)
    skip_ms = hello.get("skip_ms", 0)
    t = utime.ticks_ms()
    _mono[0], _mono[1] = unmasked(hello.get("mono_ms", t), t), t
    for k, v in hello.get("inputs", {}).items():
        inputs[int(k)] = v
    for g in hello.get("watch_reads", ()):
        watch_reads[g] = True
    global rtc_mem
    if hello.get("rtc_mem"):
        import binascii
        rtc_mem = binascii.unhexlify(hello["rtc_mem"])
    return hello


def fileno():
    return _sock


def send(op, **kw):
    kw["op"] = op
    _idle_said[0] = None  # the world takes any message but "idle" as a sign of work
    _sock.write(json.dumps(kw).encode() + b"\n")


def call(op, **kw):
    """Send a request and wait for its reply, dispatching events that arrive meanwhile."""
    global _next_id
    _next_id += 1
    rid = _next_id
    kw["id"] = rid
    send(op, **kw)
    while rid not in _replies:
        _read(-1, False)  # working, not idle: the world owes an answer
    r = _replies.pop(rid)
    _take_interrupt()
    err = r.get("err")
    if err is not None:
        if err[0] == "ValueError":
            raise ValueError(err[1])
        raise OSError(err[1])
    return r.get("r")


def on(ev, handler):
    _handlers[ev] = handler


# A Ctrl-C on the serial console (board_console.py) arrives as an event and is raised as
# KeyboardInterrupt at the next point where the board talks to the world: a poll, a sleep, the
# return of a peripheral call. The chip raises it at the next bytecode branch; a SIGINT would
# too, but this Unix VM dies of one that lands inside gc.collect() (the heap stays locked) or
# outside running code (no handler then). Number of the Ctrl-C to raise, 0 for none.
_interrupt = [0]


def _on_interrupt(msg):
    _interrupt[0] = msg["n"]


def _on_interrupt_cancel(msg):
    # the code it was meant for ended first, as on the chip when the REPL comes back
    if _interrupt[0] == msg["n"]:
        _interrupt[0] = 0


_handlers["intr"] = _on_interrupt
_handlers["intr_cancel"] = _on_interrupt_cancel


def _take_interrupt():
    n = _interrupt[0]
    if n and not _dispatching[0]:
        _interrupt[0] = 0
        send("intr_taken", n=n)
        raise KeyboardInterrupt


_pending = []
_dispatching = [False]


# Received bytes land here, allocated once at import while the heap is still whole: a
# recv(4096) per read needed a fresh contiguous 4 KB block, and a long-running board with a
# fragmented heap died of MemoryError in the emulator, not in its own code.
_rx = bytearray(1024)
_rxv = memoryview(_rx)


def _pull():
    """Move what the socket holds into _buf, all of it: a pin read must see every edge the
    world has already sent, as the chip's registers are current, whatever the chunk size.

    Called once poll has said the socket is readable. The socket is non-blocking only here:
    a blocking readinto waits to fill the whole buffer, while writes must stay whole."""
    global _buf
    _sock.setblocking(False)
    try:
        while True:
            n = _sock.readinto(_rx)
            if n is None:
                return
            if not n:
                # The world went away: the board loses power with it.
                import sys
                sys.exit(0)
            _buf += _rxv[:n]
    finally:
        _sock.setblocking(True)


def _read(timeout_ms, idle=True):
    """Read what the world sent, waiting up to timeout_ms; returns True if anything arrived.

    Events are handled in arrival order and never nested: an IRQ handler that reads a pin or
    makes an I2C transfer only queues the events arriving meanwhile, as the chip runs one
    scheduled callback at a time."""
    global _buf
    if not (block(_poller, timeout_ms) if idle else _poller.poll(timeout_ms)):
        return False
    _pull()
    start = 0
    while True:
        i = _buf.find(b"\n", start)
        if i < 0:
            break
        msg = json.loads(_buf[start:i])
        start = i + 1
        if "id" in msg:
            _replies[msg["id"]] = msg
        elif msg.get("ev") == "clock":
            _on_clock(msg)  # at once: whatever runs next reads the new time
        else:
            _events_seen[0] += 1
            _idle_said[0] = None
            _pending.append(msg)
    if start:
        _buf = _buf[start:]
    if not _dispatching[0]:
        _dispatching[0] = True
        try:
            while _pending:
                msg = _pending.pop(0)
                h = _handlers.get(msg.get("ev"))
                if h is not None:
                    h(msg)
        finally:
            _dispatching[0] = False
    return True


def service(timeout_ms=0):
    """Dispatch pending world events and due timers; wait at most timeout_ms for an event."""
    if _dispatching[0]:
        return False
    _take_interrupt()
    _run_timers()
    t = next_timer_ms()
    if t is not None and (timeout_ms < 0 or t < timeout_ms):
        timeout_ms = t
    got = _read(timeout_ms)
    _take_interrupt()
    _run_timers()
    return got


def add_timer(t):
    if t not in _timers:
        _timers.append(t)


def remove_timer(t):
    if t in _timers:
        _timers.remove(t)


def next_timer_ms():
    if not _timers:
        return None
    now = now_ms()
    d = min(t.deadline - now for t in _timers)
    return d if d > 0 else 0


def _run_timers():
    if not _timers:
        return
    now = now_ms()
    for t in list(_timers):
        if t.deadline <= now:
            if t.period:
                t.deadline += t.period
                if t.deadline <= now:
                    t.deadline = now + t.period
            else:
                remove_timer(t)
            t._fire()


def sleep_ms(ms):
    """Sleep while still servicing events and timers, as the ESP32 does during time.sleep."""
    end = now_ms() + ms
    while True:
        left = end - now_ms()
        if left <= 0:
            service(0)
            return
        service(left)



def get_int(x):
    """mp_obj_get_int (py/obj.c) as the ESP32 port applies it to sleep times and the like:
    an int or a bool; a float raises TypeError("can't convert float to int")."""
    if isinstance(x, int):
        return x
    if x is True or x is False:  # not an int subclass on MicroPython
        return int(x)
    raise TypeError("can't convert %s to int" % type(x).__name__)


inputs = {}  # gpio -> level driven by a device in the world (None: floating)
watch_reads = {}  # gpio -> True: report each read of it (a part counts what the firmware saw)
rtc_mem = b""
wifi_active = False
channel = 1  # the radio's WiFi channel (network.py keeps it, espnow.py checks peers on it)
