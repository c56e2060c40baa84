"""bourg.mqtt_link against the real umqtt.simple 1.3.4 and an in-memory broker (fake time)."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "mp"))
import itertools

import hostsetup
import pytest
from bourg.backoff import Backoff
from bourg.logring import LogRing
from bourg.mqtt_link import LinkLogic, MqttLink, publish_packet
from hypothesis import given
from hypothesis import strategies as st

pytestmark = pytest.mark.skipif(not hostsetup.umqtt_available(),
                                reason="build/umqtt/umqtt_pinned.py missing")
P = "bourg/demo/pole-1/"


@pytest.fixture
def env(tmp_path):
    import umqtt_pinned as simple
    from fakebroker import Broker

    b = Broker()
    simple.socket = b
    ring = LogRing(console=False)

    def make(**kw):
        args = {"client_cls": simple.MQTTClient, "queue_path": str(tmp_path / "data" / "q"),
                "ring": ring, "rand": lambda: 0.0, "user": "u", "password": "pw-secret",
                "client_id": "pole-1"}
        args.update(kw)
        return MqttLink(P, "broker.local", 1883, 30, **args)

    return b, make, ring


def run(link, t0, t1, dt=50):
    t = t0
    while t <= t1:
        link.step(t)
        t += dt
    return t


def events(b):
    return [json.loads(m) for t, m, q, r in b.events()]


def test_connect_sets_will_online_and_subscribes(env):
    b, make, ring = env
    link = make()
    assert link.step(0)
    c = b.connects[0]
    assert c["client_id"] == "pole-1" and c["keepalive"] == 30 and c["clean"]
    assert c["user"] == "u" and c["password"] == "pw-secret"
    assert c["will"] == (P + "status", b"offline", True) and c["will_qos"] == 1
    assert b.retained[P + "status"] == b"online"
    assert b.subs == [(P + "cmd/#", 1)]
    assert link.status["connected"] and link.status["reconnects"] == 0
    b.kill()
    assert b.retained[P + "status"] == b"offline"  # the will
    run(link, 100, 2000)
    assert b.retained[P + "status"] == b"online" and len(b.subs) == 2
    assert link.status["reconnects"] == 1
    assert "pw-secret" not in str([e["msg"] for e in ring.dump()])


def test_online_comes_after_the_commands_subscription(env):
    """Whoever sends a command once it sees `online` must be heard: the board subscribes
    (and reads the SUBACK) first. Published the other way round, a command sent between the
    two was lost (a CI run's monitor test waited 30 s for a reply)."""
    b, make, _ = env
    link = make()
    assert link.step(0)
    assert b.log[:2] == [("subscribe", P + "cmd/#"), ("publish", P + "status")], b.log


def test_a_board_whose_subscription_is_refused_never_says_online(env):
    """`online` waits for the SUBACK: a refused subscription (0x80) is a failed connect,
    retried with backoff, and the board never claims to hear commands it cannot."""
    b, make, _ = env
    b.refuse_sub = True
    link = make()
    assert not link.step(0)
    run(link, 100, 5000)
    assert ("publish", P + "status") not in b.log and len(b.connects) >= 2, b.log


def test_events_queued_offline_delivered_in_order(env):
    b, make, _ = env
    b.up = False
    link = make()
    for i in range(5):
        assert link.publish_event("door", {"i": i}) == i + 1
    run(link, 0, 3000)
    assert b.events() == [] and link.status["queue"] == 5
    b.up = True
    run(link, 3050, 70000)
    ev = events(b)
    assert [e["seq"] for e in ev] == [1, 2, 3, 4, 5]
    assert [e["data"]["i"] for e in ev] == [0, 1, 2, 3, 4]
    assert all(e["kind"] == "door" for e in ev) and b.events()[0][0] == P + "events/door"
    assert all(q == 1 for _, _, q, _ in b.events())
    assert link.status["queue"] == 0 and link.status["sent"] == 5


def test_queue_survives_reboot(env):
    b, make, _ = env
    b.up = False
    link = make()
    for i in range(3):
        link.publish_event("count", {"n": i})
    del link  # power cut
    b.up = True
    link2 = make()
    run(link2, 0, 1000)
    assert [(e["seq"], e["data"]["n"]) for e in events(b)] == [(1, 0), (2, 1), (3, 2)]
    assert link2.publish_event("count", {"n": 3}) == 4  # seq keeps growing after reboot
    link3 = make()
    assert link3.queue.next_seq >= 5 or len(link3.queue) == 1


def test_at_least_once_resend_after_lost_puback(env):
    b, make, _ = env
    link = make()
    link.step(0)
    b.hold_puback = True
    link.publish_event("x", {"v": 1})
    link.publish_event("x", {"v": 2})
    run(link, 50, 1000)
    assert [e["seq"] for e in events(b)] == [1]  # one in flight, ordered
    b.kill()
    b.hold_puback = False
    run(link, 1050, 5000)
    seqs = [e["seq"] for e in events(b)]
    assert seqs == [1, 1, 2]  # duplicate of 1 (the receiver de-duplicates on seq)
    assert link.status["queue"] == 0


def test_puback_timeout_reconnects(env):
    b, make, _ = env
    link = make(puback_timeout_ms=2000)
    link.step(0)
    b.hold_puback = True
    link.publish_event("x", {})
    run(link, 50, 1900)
    assert link.connected
    run(link, 1950, 2200)
    assert not link.connected


def test_bound_and_drop_count(env):
    b, make, _ = env
    b.up = False
    link = make(max_events=5)
    for i in range(8):
        link.publish_event("e", {"i": i})
    assert link.status["queue"] == 5 and link.status["dropped"] == 3
    b.up = True
    run(link, 0, 3000)
    ev = events(b)
    assert [e["data"]["i"] for e in ev] == [3, 4, 5, 6, 7]
    assert [e.get("dropped") for e in ev] == [None, None, 1, 1, 1]  # reported as they happen
    link.publish_event("e", {"i": 8})
    run(link, 3050, 3500)
    assert "dropped" not in events(b)[-1]


def test_keepalive_ping_and_dead_peer(env):
    b, make, _ = env
    link = make()
    link.step(0)
    run(link, 50, 14950)
    assert b.pings == 0
    run(link, 15000, 15100)
    assert b.pings == 1
    run(link, 15150, 45000)
    assert link.connected and b.pings == 3
    b.mute = True  # peer stops answering (half-open TCP)
    run(link, 45050, 74500, dt=500)
    assert link.connected and b.pings == 4  # the ping at 60 s went unanswered
    run(link, 75000, 75500, dt=500)  # keepalive/2 after that ping: dead
    assert not link.connected and "OSError" in link.status["last_error"]
    b.mute = False
    run(link, 76000, 80000, dt=500)
    assert link.connected and link.status["reconnects"] == 1


def test_backoff_spacing_while_broker_down(env):
    b, make, _ = env
    b.up = False
    link = make(backoff=Backoff(1000, 8000, jitter=0))
    attempts = []
    t = 0
    while t < 40000:
        before = link.logic.failures
        link.step(t)
        if link.logic.failures != before:
            attempts.append(t)
        t += 100
    gaps = [y - x for x, y in itertools.pairwise(attempts)]
    assert gaps[:4] == [1000, 2000, 4000, 8000] and set(gaps[4:]) == {8000}


def test_net_down_means_no_attempts(env):
    b, make, _ = env
    up = [False]
    link = make(net_up=lambda: up[0])
    run(link, 0, 5000)
    assert b.connects == []
    up[0] = True
    link.step(5050)
    assert link.connected


def test_commands_and_bad_handlers(env):
    b, make, ring = env
    link = make()
    got = []
    link.on("light", lambda n, m: got.append((n, m)))
    link.on("boom", lambda n, m: 1 / 0)
    link.step(0)
    b.inject(P + "cmd/light", b'{"on":1}', qos=1)
    b.inject(P + "cmd/boom", b"x")
    b.inject(P + "cmd/unknown", b"x")
    run(link, 50, 500)
    assert got == [("light", b'{"on":1}')]
    assert link.connected
    msgs = [e["msg"] for e in ring.dump()]
    assert any("cmd/boom failed" in m for m in msgs) and any("no handler" in m for m in msgs)
    with pytest.raises(ValueError):
        link.on("a+b", print)


class ReturnsOps:
    """umqtt.simple 1.4 and later (frozen in official ESP32 images from v1.24.1):
    check_msg() returns the op code of a PUBLISH it has delivered to the callback."""

    def __init__(self, base):
        self.base = base

    def __call__(self, *a, **kw):
        base = self.base

        class Client(base):
            def wait_msg(self):
                delivered = []
                cb = self.cb
                self.cb = lambda t, m: (delivered.append(1), cb(t, m))
                try:
                    op = base.wait_msg(self)
                finally:
                    self.cb = cb
                return 0x30 if delivered and op is None else op

        Client.__module__ = base.__module__  # the link patches the module's socket
        return Client(*a, **kw)


def test_commands_keep_the_link_whatever_check_msg_returns(env):
    """A delivered command is not a protocol error: umqtt 1.4+ returns its op (0x3X)."""
    import umqtt_pinned as simple

    b, make, _ = env
    got = []
    link = make(client_cls=ReturnsOps(simple.MQTTClient))
    link.on("settings", lambda n, m: got.append(m))
    link.step(0)
    for i in range(3):
        b.inject(P + "cmd/settings", b'{"i":%d}' % i, qos=1)
    run(link, 50, 500)
    assert len(got) == 3
    assert link.connected and link.status["reconnects"] == 0


def test_the_link_runs_on_the_pinned_umqtt(env):
    """Not the image's frozen umqtt.simple: 1.5+ sets the socket's timeout to connect()'s
    argument (None: a silent broker blocks the loop past the watchdog)."""
    import umqtt_pinned

    _, make, _ = env
    assert make(client_cls=None)._cls is umqtt_pinned.MQTTClient


def test_state_latest_wins_and_resent(env):
    b, make, _ = env
    b.up = False
    link = make()
    link.publish_state("state", {"level": 1})
    link.publish_state("state", {"level": 2})
    run(link, 0, 100)
    b.up = True
    run(link, 150, 2000)
    st_msgs = [(m, r) for t, m, q, r in b.published if t == P + "state"]
    assert st_msgs == [(b'{"level": 2}', True)]
    b.kill()
    run(link, 2050, 6000)
    assert [m for t, m, q, r in b.published if t == P + "state"][-1] == b'{"level": 2}'


def test_secrets_redacted_and_bad_input(env):
    b, make, _ = env
    link = make()
    link.publish_event("cfg", {"wifi_password": "xyz", "ok": 1})
    run(link, 0, 200)
    assert events(b)[0]["data"] == {"wifi_password": "***", "ok": 1}
    with pytest.raises(ValueError):
        link.publish_event("a/b", {})
    with pytest.raises(ValueError):
        link.publish_event("big", {"s": "x" * 5000})
    with pytest.raises(TypeError):
        link.publish_event("obj", {"s": object()})
    assert link.status["queue"] == 0


def test_eof_and_garbage_from_broker_reconnect(env):
    b, make, _ = env
    link = make()
    link.step(0)
    b.sock.outbuf.extend(b"\x50\x02\x00\x01")  # PUBREC: not something we ever ask for
    link.step(50)
    assert not link.connected
    run(link, 100, 2000)
    assert link.connected
    b.sock.eof = True
    link.step(2050)
    assert not link.connected


def test_connack_refused_and_silent_broker(env):
    b, make, _ = env
    b.connack_rc = 5
    link = make()
    link.step(0)
    assert not link.connected and "MQTTException" in link.status["last_error"]
    b.connack_rc = 0
    b.mute = True  # accepts TCP, never answers CONNECT: the socket timeout fires
    run(link, 1000, 1000)
    assert not link.connected
    b.mute = False
    run(link, 1050, 10000)
    assert link.connected


def test_publish_packet_matches_umqtt_framing():
    pkt = publish_packet("a/b", b"x" * 200, 0x1234)
    assert pkt[0] == 0x32 and pkt[1:3] == bytes([(2 + 3 + 2 + 200) & 0x7F | 0x80, 1])
    assert pkt[3:5] == b"\x00\x03" and pkt[5:8] == b"a/b" and pkt[8:10] == b"\x12\x34"


@given(st.lists(st.tuples(st.sampled_from(["ok", "lost", "fail"]), st.integers(0, 120000),
                          st.floats(0, 0.999)), max_size=30))
def test_logic_backoff_properties(script):
    lg = LinkLogic(30, Backoff(1000, 60000), stable_ms=30000)
    t = 0
    for what, dt, r in script:
        t += dt
        if not lg.should_connect(t):
            continue
        if what == "fail":
            d = lg.on_connect_failed(t, r)
            assert 1000 <= d <= 60000
            assert not lg.should_connect(t + d - 1) and lg.should_connect(t + d)
        else:
            lg.on_connected(t)
            assert not lg.should_connect(t)
            if what == "lost":
                t += dt
                d = lg.on_lost(t, r)
                assert 1000 <= d <= 60000
                if dt >= 30000:
                    assert d <= 1000


def _due(lg, t):
    """What the link would act on at t: a connection attempt, a ping, a dead peer, a PUBACK
    overdue."""
    if not lg.connected:
        return lg.should_connect(t)
    return lg.need_ping(t) or lg.is_dead(t) or lg.puback_overdue(t)


@given(st.integers(0, 2 ** 29), st.sampled_from([0, 10, 30]), st.booleans(),
       st.integers(0, 40000), st.integers(0, 40000), st.one_of(st.none(), st.integers(0, 40000)),
       st.integers(0, 40000), st.integers(1, 10000), st.floats(0, 0.999))
def test_the_link_sleeps_until_its_next_deadline_and_no_longer(t0, ka, up, rx_ago, ping_ago,
                                                              sent_ago, elapsed, cap, r):
    """wait_ms is the time until the first thing the link must do, at most the cap: sleeping
    that long never misses a ping, a dead peer, a PUBACK timeout or a connection attempt, and
    (below the cap) the deadline is due when the sleep ends."""
    lg = LinkLogic(ka, Backoff(1000, 60000), puback_timeout_ms=10000)
    now = t0 + 100000 + elapsed
    if up:
        lg.on_connected(t0)
        lg.last_rx = now - rx_ago
        lg.last_ping = now - ping_ago
        if sent_ago is not None:
            lg.on_sent(7, 1, now - sent_ago)
        if _due(lg, now):
            return  # step() acts on it before the link sleeps
    else:
        lg.on_connect_failed(t0 + 100000, r)
    w = lg.wait_ms(now, cap)
    assert 0 <= w <= cap
    if not up and lg.should_connect(now):
        assert w == min(cap, 500)  # due but offline: poll for the network
        return
    assert not any(_due(lg, now + dt) for dt in range(0, w, max(1, w // 50)))
    assert not _due(lg, now + w - 1) if w else True
    if w < cap:
        assert _due(lg, now + w)


def test_the_links_socket_sends_each_write_at_once():
    """TCP_NODELAY on the MQTT socket: umqtt writes a packet in pieces, and with Nagle's
    algorithm the later pieces (a reply's payload, the next PINGREQ) wait for the broker's
    delayed ACK. On a virtual board that wait let the world skip seconds while the bytes sat
    in the board's socket, and the link died of its keepalive."""
    from bourg.mqtt_sock import SocketModule

    class FakeSocket:
        def __init__(self):
            self.opts = []

        def settimeout(self, t):
            pass

        def setsockopt(self, level, opt, value):
            self.opts.append((level, opt, value))

    class Mod:
        IPPROTO_TCP, TCP_NODELAY = 6, 1

        @staticmethod
        def socket(*args):
            return FakeSocket()

    s = SocketModule(Mod, 5).socket()
    assert (6, 1, 1) in s.opts

    class Refuses(FakeSocket):
        def setsockopt(self, level, opt, value):
            raise OSError(22)

    class Plain:  # a socket module that names neither constant, a socket that refuses
        @staticmethod
        def socket(*args):
            return Refuses()

    assert isinstance(SocketModule(Plain, 5).socket(), Refuses)  # Nagle kept, no error


def test_an_attempt_due_before_a_long_outage_is_still_due_after_it():
    """The link checks every few hundred ms whether to connect while WiFi is down. Ticks wrap
    at 2**30 ms: an attempt time kept through a 7-day outage read as 5 days in the future,
    and the board stayed off the broker until day 12.4 when WiFi came back on day 7."""
    from bourg import compat

    lg = LinkLogic(30, Backoff(1000, 60000))
    t = compat.ticks_add(0, compat.TICKS_PERIOD - 5000)  # just before a wrap
    d = lg.on_connect_failed(t, 0.5)
    step = 400
    waited = 0
    while waited < 7 * 86400 * 1000:  # no network for 7 days: the link polls, never connects
        waited += 1000 * step
        assert lg.should_connect(compat.ticks_add(t, waited)) == (waited >= d)
