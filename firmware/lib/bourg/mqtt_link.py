"""MQTT link around umqtt.simple: reconnecting, keepalive-checked, with a reboot-proof queue.

Why this shape: umqtt.simple blocks and raises on every network hiccup. Here every network call
runs in `step()` under a short socket timeout, any exception means "reconnect with backoff", and
events go through a Journal on flash so they survive reboots and are delivered at least once, in
order, each with a sequence number the receiver can de-duplicate on.

LinkLogic holds the decisions (pure, fake-time testable); MqttLink is the socket shell.
QoS 1 for events is tracked here (PUBLISH written by us, PUBACK read in the receive pump)
instead of umqtt's publish(qos=1), which would block the loop waiting for the PUBACK.
"""
import json
import struct

from bourg import compat
from bourg.backoff import Backoff
from bourg.logring import redact
from bourg.mqtt_sock import SockGuard, patch_socket_timeout, watch, write_all

DEFAULT_QUEUE = "/data/mqtt_queue"
MAX_EVENTS = 200  # queue bound (records); beyond it the oldest are dropped and counted
MAX_QUEUE_BYTES = 32768
MAX_EVENT_BYTES = 1024


class LinkLogic:
    """Connection state machine: when to connect, ping, give up on a peer, resend."""

    def __init__(self, keepalive_s=30, backoff=None, puback_timeout_ms=10000, stable_ms=30000):
        self.ka_ms = keepalive_s * 1000
        self.backoff = backoff or Backoff()
        self.puback_timeout_ms = puback_timeout_ms
        self.stable_ms = stable_ms
        self.connected = False
        self.next_attempt_ms = None  # None: attempt now
        self.connected_at = None
        self.last_rx = 0
        self.last_ping = 0
        self.inflight = None  # (pid, seq, sent_ms)
        self.connects = 0
        self.reconnects = 0
        self.failures = 0

    def should_connect(self, now):
        """Due for an attempt. Once due it stays due (the attempt time is dropped): ticks
        wrap at 2**30 ms, and a time kept through a WiFi outage of more than 6.2 days would
        read as in the future until the 12.4-day mark."""
        if self.connected:
            return False
        if self.next_attempt_ms is not None and \
                compat.ticks_diff(now, self.next_attempt_ms) >= 0:
            self.next_attempt_ms = None
        return self.next_attempt_ms is None

    def on_connected(self, now):
        self.connected = True
        self.connected_at = now
        self.last_rx = now
        self.last_ping = now
        self.inflight = None
        self.connects += 1
        if self.connects > 1:
            self.reconnects += 1

    def _schedule(self, now, rand):
        d = self.backoff.next_ms(rand)
        self.next_attempt_ms = compat.ticks_add(now, d)
        return d

    def on_connect_failed(self, now, rand):
        """Returns the delay (ms) before the next attempt."""
        self.failures += 1
        return self._schedule(now, rand)

    def on_lost(self, now, rand):
        """Connection dropped. A connection that lived stable_ms resets the backoff, so one
        blip reconnects fast but a broker that accepts-then-drops is not hammered."""
        if self.connected and compat.ticks_diff(now, self.connected_at) >= self.stable_ms:
            self.backoff.reset()
        self.connected = False
        self.inflight = None  # resent from the queue head after reconnect
        return self._schedule(now, rand)

    def on_rx(self, now):
        self.last_rx = now

    def need_ping(self, now):
        return (self.connected and self.ka_ms > 0 and
                compat.ticks_diff(now, self.last_ping) >= self.ka_ms // 2)

    def on_ping(self, now):
        self.last_ping = now

    def is_dead(self, now):
        """Nothing received for a whole keepalive although we ping every keepalive/2."""
        return (self.connected and self.ka_ms > 0 and
                compat.ticks_diff(now, self.last_rx) > self.ka_ms)

    def can_send(self):
        return self.connected and self.inflight is None

    def on_sent(self, pid, seq, now):
        self.inflight = (pid, seq, now)

    def on_puback(self, pid):
        """seq acknowledged by this PUBACK, or None if it is not ours."""
        if self.inflight is not None and self.inflight[0] == pid:
            seq = self.inflight[1]
            self.inflight = None
            return seq
        return None

    def puback_overdue(self, now):
        return (self.inflight is not None and
                compat.ticks_diff(now, self.inflight[2]) > self.puback_timeout_ms)

    def wait_ms(self, now, cap_ms):
        """How long the link may sleep before its next deadline: the next connection attempt,
        ping, keepalive expiry or PUBACK timeout; at most cap_ms. Bytes from the broker and
        the app's publications wake it sooner (the shell's job)."""
        if not self.connected:
            if self.should_connect(now):
                return min(cap_ms, 500)  # due, but no network (or no valid clock) yet
            return max(0, min(cap_ms, compat.ticks_diff(self.next_attempt_ms, now)))
        w = cap_ms
        if self.ka_ms > 0:
            w = min(w, compat.ticks_diff(compat.ticks_add(self.last_ping, self.ka_ms // 2), now),
                    compat.ticks_diff(compat.ticks_add(self.last_rx, self.ka_ms + 1), now))
        if self.inflight is not None:
            w = min(w, compat.ticks_diff(
                compat.ticks_add(self.inflight[2], self.puback_timeout_ms + 1), now))
        return max(0, w)


def _enc(x):
    if isinstance(x, str):
        return x.encode()
    return bytes(x)


def publish_packet(topic, msg, pid, qos=1, retain=False):
    """Bytes of an MQTT 3.1.1 PUBLISH packet."""
    t = _enc(topic)
    m = _enc(msg)
    rem = 2 + len(t) + len(m) + (2 if qos else 0)
    hdr = bytearray([0x30 | (qos << 1) | (1 if retain else 0)])
    while True:
        b = rem & 0x7F
        rem >>= 7
        if rem:
            hdr.append(b | 0x80)
        else:
            hdr.append(b)
            break
    out = bytes(hdr) + struct.pack("!H", len(t)) + t
    if qos:
        out += struct.pack("!H", pid)
    return out + m


def valid_name(s):
    """Topic level safe for our tree: non-empty, no '/', '+', '#', spaces or NUL."""
    if not isinstance(s, str) or not s or len(s) > 48:
        return False
    for c in s:
        if c in "/+# \x00":
            return False
    return True


def _payload_bytes(payload):
    if isinstance(payload, (bytes, bytearray)):
        return bytes(payload)
    if isinstance(payload, str):
        return payload.encode()
    return json.dumps(redact(payload)).encode()


class MqttLink:
    """link.publish_event(kind, dict) -> queued on flash, sent qos1 in order;
    link.publish_state(suffix, payload) -> retained, latest wins; link.on(name, handler) for
    bourg/<site>/<id>/cmd/<name>; await link.run() drives everything."""

    def __init__(self, prefix, host, port=1883, keepalive=30, user=None, password=None,
                 client_id=None, client_cls=None, queue_path=DEFAULT_QUEUE,
                 max_events=MAX_EVENTS, max_queue_bytes=MAX_QUEUE_BYTES, ring=None,
                 clock=None, net_up=None, sock_timeout_s=5, backoff=None, rand=None,
                 puback_timeout_ms=10000, journal=None, tls=None):
        """tls: the board's TLS secrets (tls_ca, tls_cert, tls_key) for a broker that speaks
        TLS. The context is made at the first connection, not at boot: mbedTLS seeds its
        random generator then, and the ESP32's RNG is only truly random once the radio runs.
        The link also waits for a valid clock before it connects (certificate dates)."""
        self.prefix = prefix
        self.host = host
        self.port = port
        self.user = user
        self._password = password
        self.client_id = client_id or prefix.strip("/").replace("/", "-")
        if client_cls is None:
            # umqtt.simple 1.3.4 from PyPI, deployed under a name the image's frozen umqtt
            # (1.4+: other return values, connect(timeout=None)) cannot shadow.
            from umqtt_pinned import MQTTClient as client_cls
        self._cls = client_cls
        self.sock_timeout_s = sock_timeout_s
        self.tls = tls is not None
        self._tls_secrets = tls
        self._tls_ctx = None
        patch_socket_timeout(client_cls, sock_timeout_s)
        if ring is None:
            from bourg.logring import log as ring
        self._lg = ring
        if clock is None and tls is not None:
            from bourg.clock import Clock

            clock = Clock()
        self.clock = clock
        self.net_up = net_up
        self._rand = rand or compat.rand_float
        self.logic = LinkLogic(keepalive, backoff, puback_timeout_ms)
        self.keepalive = keepalive
        if journal is None:
            from bourg.store import Journal

            journal = Journal(queue_path, max_events, max_queue_bytes, MAX_EVENT_BYTES + 256)
        self.queue = journal
        self._reported_drops = self.queue.dropped
        self._client = None
        self._handlers = {}
        self._states = {}  # suffix -> [bytes, retain, dirty]
        self.last_error = None
        self.queue_errors = 0
        self.rx_msgs = 0
        self.sent_events = 0
        self.wakes = 0
        self._kick = None  # asyncio.Event: bytes from the broker, or something to publish
        self._drained = None  # asyncio.Event: the link has read, the watcher may wait again
        self._watcher = None

    @classmethod
    def from_config(cls, cfg, **kw):
        """Build from a bourg.config.Config (or (data, secrets) from load_network)."""
        if isinstance(cfg, tuple):
            data, secrets = cfg
            prefix = "bourg/" + data["site"] + "/" + data["device_id"] + "/"
        else:
            data, secrets = cfg.data, cfg.secrets
            prefix = cfg.topic_prefix
        m = data["network"]["mqtt"]
        if m.get("tls") and "tls" not in kw:
            kw["tls"] = secrets
        return cls(prefix, m["host"], m.get("port", 1883), m.get("keepalive", 30),
                   secrets.get("mqtt_user"), secrets.get("mqtt_password"),
                   client_id=data["device_id"], **kw)

    # -- app API ------------------------------------------------------------------------------
    @property
    def connected(self):
        return self.logic.connected

    @property
    def status(self):
        lg = self.logic
        return {"connected": lg.connected, "connects": lg.connects,
                "reconnects": lg.reconnects, "failures": lg.failures,
                "queue": len(self.queue), "dropped": self.queue.dropped,
                "next_seq": self.queue.next_seq, "inflight": lg.inflight is not None,
                "sent": self.sent_events, "queue_errors": self.queue_errors,
                "wakes": self.wakes, "last_error": self.last_error}

    def on(self, name, handler):
        """handler(name, msg_bytes) for messages on <prefix>cmd/<name>; name "#" catches all.
        A handler may be a coroutine function: it is then scheduled as a task."""
        if name != "#" and not valid_name(name.replace("/", "_")):
            raise ValueError("bad command name: " + repr(name))
        self._handlers[name] = handler

    def publish_event(self, kind, data=None):
        """Queue an event (persisted before returning). Returns its seq, or None if the flash
        write failed (counted, logged). Bad kind/too-big/non-JSON data raise
        ValueError/TypeError."""
        if not valid_name(kind):
            raise ValueError("bad event kind: " + repr(kind))
        rec = {"k": kind, "d": redact(data) if data is not None else None}
        if self.clock is not None:
            rec["t"] = self.clock.unix()
        q = self.queue
        lost = q.dropped - self._reported_drops + max(0, len(q) + 1 - q.max_records)
        if lost > 0:
            rec["x"] = lost
        try:
            seq = q.append(rec)
        except OSError as e:
            self.queue_errors += 1
            self._lg.error("mqtt", "event queue write failed: " + repr(e))
            return None
        self._reported_drops = q.dropped
        self._wake()
        return seq

    def publish_state(self, suffix, payload, retain=True):
        """Latest-value state on <prefix><suffix>: kept in RAM, (re)sent when connected."""
        if not valid_name(suffix.replace("/", "_")):
            raise ValueError("bad state topic: " + repr(suffix))
        self._states[suffix] = [_payload_bytes(payload), retain, True]
        self._wake()

    def publish(self, suffix, payload, retain=False):
        """Fire-and-forget qos0 (replies, logs). Returns False when not connected / failed."""
        if self._client is None:
            return False
        try:
            self._client.publish(_enc(self.prefix + suffix), _payload_bytes(payload), retain)
            return True
        except Exception as e:  # noqa: BLE001 - any failure is a dead link
            self._lost(compat.ticks_ms(), e)
            return False

    # -- shell --------------------------------------------------------------------------------
    def _tls_context(self, now):
        """The TLS context, made once; None (logged, retried with backoff) when the board's
        TLS keys cannot be loaded: the link waits for a deploy with good keys rather than
        rebooting the board."""
        if self._tls_ctx is None:
            from bourg import mqtt_tls

            try:
                self._tls_ctx = mqtt_tls.context(self._tls_secrets)
            except (ValueError, OSError) as e:
                d = self.logic.on_connect_failed(now, self._rand())
                self.last_error = "TLS keys unusable: " + _err(e)
                self._lg.error("mqtt", self.last_error + " (deploy the board's secrets again); "
                               "retry in " + str(d) + " ms")
                return None
        return self._tls_ctx

    def _connect(self, now):
        if self.tls:
            ctx = self._tls_context(now)
            if ctx is None:
                return False
            patch_socket_timeout(self._cls, self.sock_timeout_s, (ctx, self.host))
        # bytes everywhere: umqtt sends len(str) as the length, wrong for non-ASCII text
        c = self._cls(_enc(self.client_id), self.host, port=self.port,
                      user=None if self.user is None else _enc(self.user),
                      password=None if self._password is None else _enc(self._password),
                      keepalive=self.keepalive)
        c.set_callback(self._on_msg)
        c.set_last_will(_enc(self.prefix + "status"), b"offline", retain=True, qos=1)
        try:
            c.connect()
            c.sock = SockGuard(c.sock, self.sock_timeout_s)  # pyright: ignore[reportAttributeAccessIssue] duck-typed
            # subscribed (SUBACK read) before `online`: whoever sends a command once it sees
            # `online` is heard; the other way round, one sent in between was lost
            c.subscribe(_enc(self.prefix + "cmd/#"), 1)
            c.publish(_enc(self.prefix + "status"), b"online", True)
        except Exception as e:  # noqa: BLE001 - OSError, MQTTException, asserts on bad replies
            self._close(c)
            d = self.logic.on_connect_failed(now, self._rand())
            self.last_error = _err(e)
            self._lg.warn("mqtt", "connect to " + self.host + " failed: " + self.last_error +
                          "; retry in " + str(d) + " ms")
            return False
        self._client = c
        self.logic.on_connected(now)
        for k in self._states:
            self._states[k][2] = True
        self._lg.info("mqtt", "connected to " + self.host + ":" + str(self.port) +
                      " (queue " + str(len(self.queue)) + ")")
        return True

    def _close(self, c):
        try:
            if c.sock is not None:
                c.sock.close()
        except Exception:  # noqa: BLE001, S110 - closing a dead socket may fail any way
            pass

    def _lost(self, now, e):
        c = self._client
        self._client = None
        self._stop_watch()
        self._wake()  # lost in another task's publish(): the link's wait is for a live one
        if c is not None:
            self._close(c)
        self.last_error = _err(e)
        if self.logic.connected:
            d = self.logic.on_lost(now, self._rand())
            self._lg.warn("mqtt", "link lost: " + self.last_error + "; retry in " + str(d) +
                          " ms")

    def close(self):
        """Clean disconnect (the broker then does not publish the will)."""
        c = self._client
        self._client = None
        self._stop_watch()
        if c is not None:
            try:
                c.publish(_enc(self.prefix + "status"), b"offline", True)
                c.disconnect()
            except Exception:  # noqa: BLE001
                self._close(c)
        if self.logic.connected:
            self.logic.on_lost(compat.ticks_ms(), 0.0)

    def _on_msg(self, topic, msg):
        self.rx_msgs += 1
        t = topic.decode() if isinstance(topic, (bytes, bytearray)) else topic
        base = self.prefix + "cmd/"
        if not t.startswith(base):
            return
        name = t[len(base):]
        h = self._handlers.get(name) or self._handlers.get("#")
        if h is None:
            self._lg.warn("mqtt", "no handler for cmd/" + name)
            return
        try:
            r = h(name, bytes(msg))
            if r is not None and hasattr(r, "send"):
                import asyncio

                asyncio.create_task(r)
        except Exception as e:  # noqa: BLE001 - a bad command must not drop the link
            self._lg.error("mqtt", "handler cmd/" + name + " failed: " + _err(e))

    def _pump(self):
        c = self._client
        g = c.sock  # type: SockGuard  # pyright: ignore[reportAssignmentType] set in _connect
        for _ in range(8):
            before = g.rx
            op = c.check_msg()
            if op is None:
                if g.rx == before:
                    return
                continue
            if op == 0x40:  # PUBACK: umqtt left "\x02 pid_hi pid_lo" for us
                rest = g.read(3)
                if not rest or len(rest) != 3 or rest[0] != 2:
                    raise OSError(71)  # EPROTO
                seq = self.logic.on_puback((rest[1] << 8) | rest[2])
                if seq is not None:
                    self.sent_events += 1
                    try:
                        self.queue.drop_through(seq)
                    except OSError as e:  # resent after reboot: a duplicate, not a loss
                        self.queue_errors += 1
                        self._lg.error("mqtt", "queue ack write failed: " + repr(e))
            elif op == 0x90:  # a late SUBACK
                g.read(4)
            elif op == 0xB0:  # UNSUBACK
                g.read(3)
            elif op & 0xF0 == 0x30:
                continue  # a PUBLISH delivered to _on_msg; umqtt 1.4+ returns its op
            else:
                raise OSError(71)

    def _send_next_event(self, now):
        if not self.logic.can_send():
            return
        e = self.queue.first()
        if e is None:
            return
        seq, rec = e
        if not isinstance(rec, dict) or not valid_name(rec.get("k")):
            self._lg.error("mqtt", "dropping malformed queued event " + str(seq))
            self.queue.drop_through(seq)
            return
        body = {"seq": seq, "kind": rec["k"], "t": rec.get("t"), "data": rec.get("d")}
        if rec.get("x"):
            body["dropped"] = rec["x"]
        c = self._client
        pid = (c.pid % 65535) + 1
        c.pid = pid
        pkt = publish_packet(self.prefix + "events/" + rec["k"], json.dumps(body), pid, 1)
        write_all(c.sock, pkt)
        self.logic.on_sent(pid, seq, now)

    def _flush_states(self):
        for k in self._states:
            st = self._states[k]
            if st[2]:
                self._client.publish(_enc(self.prefix + k), st[0], st[1])
                st[2] = False

    def step(self, now=None):
        """One non-blocking round: connect if due, read, ping, check liveness, send."""
        if now is None:
            now = compat.ticks_ms()
        if self._client is None:
            if (self.net_up is None or self.net_up()) and self.logic.should_connect(now):
                if self.tls and not self.clock.valid():
                    # mbedTLS would refuse every certificate as not yet valid
                    self.last_error = "waiting for a valid clock (TLS checks certificate dates)"
                else:
                    self._connect(now)
            if self._client is None:
                return False
        try:
            g = self._client.sock  # type: SockGuard  # pyright: ignore[reportAssignmentType] see _pump
            before = g.rx
            self._pump()
            if g.rx != before:
                self.logic.on_rx(now)
            if self.logic.is_dead(now):
                raise OSError(110)  # ETIMEDOUT: no PINGRESP / traffic for a keepalive
            if self.logic.puback_overdue(now):
                raise OSError(110)
            if self.logic.need_ping(now):
                self._client.ping()
                self.logic.on_ping(now)
            self._flush_states()
            self._send_next_event(now)
        except Exception as e:  # noqa: BLE001 - every failure means: reconnect with backoff
            self._lost(now, e)
            return False
        return True

    async def run(self, period_ms=None, sup=None, name="mqtt", cap_ms=5000):
        """Drive the link forever (never raises). Register `name` with the supervisor first
        (cap_ms must stay under its window).

        Between steps the link sleeps until its next deadline (LinkLogic.wait_ms), or until
        the broker sends a byte or the app publishes: a board then wakes for what happens,
        not 20 times a second. period_ms, if given, polls at that period instead (a port
        whose asyncio cannot wait on a socket: CPython)."""
        import asyncio

        use_watcher = period_ms is None and hasattr(asyncio, "sleep_ms")
        if use_watcher:
            self._kick = asyncio.Event()
            self._drained = asyncio.Event()
        while True:
            self.wakes += 1
            try:
                self.step()
            except Exception as e:  # noqa: BLE001 - belt and braces: the loop must survive
                self.last_error = _err(e)
            if sup is not None:
                sup.alive(name)
            if not use_watcher:
                await compat.asleep_ms((period_ms or 50) if self._client is not None else 200)
                continue
            self._watch_socket(asyncio)
            k = self._kick
            k.clear()
            # an event still to send after a step: the queue could not be read, or a
            # malformed one was dropped; try again soon, but do not spin
            ms = 50 if self.logic.can_send() and len(self.queue) else cap_ms
            c = self._client
            if c is not None and c.sock.unpollable:  # pyright: ignore[reportAttributeAccessIssue] a SockGuard
                ms = min(ms, 50)  # watch() cannot wait on this socket: poll it
            try:
                await asyncio.wait_for_ms(k.wait(), self.logic.wait_ms(compat.ticks_ms(), ms))
            except asyncio.TimeoutError:
                pass

    def _wake(self):
        if self._kick is not None:
            self._kick.set()

    def _watch_socket(self, asyncio):
        """Keep one task waiting until the broker's bytes are there (mqtt_sock.watch), and
        let it wait again once the pump has read them."""
        c = self._client
        if c is None:
            return
        g = c.sock  # type: SockGuard  # pyright: ignore[reportAssignmentType] see _pump
        if self._watcher is None:
            self._watcher = asyncio.create_task(watch(g, self._wake, self._drained))
        else:
            self._drained.set()

    def _stop_watch(self):
        t = self._watcher
        self._watcher = None
        if t is not None:
            t.cancel()


def _err(e):
    return type(e).__name__ + " " + str(e)
