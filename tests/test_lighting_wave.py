"""firmware/lighting/lightwave.py: direction of travel, ahead/behind, spoofing, relays."""
from host_tools.lighting import fw

W = fw.load("lightwave")
F = fw.load("frames")
KEY = b"site"


def street(n=4, **kw):
    return [W.Wave(bytes([2, 0, 0, 0, 0, i]), 30.0 * i, KEY, **kw) for i in range(n)]


def deliver(frames, wave, t):
    acts, relays = [], []
    for f in frames:
        a, r = wave.receive(f, t)
        acts += a
        relays += r
    return acts, relays


def test_walk_infers_direction_and_lights_ahead():
    p = street()
    f0 = p[0].local(True, 1000)  # first detection: direction unknown
    assert p[0].dir == 0
    acts, relays = deliver(f0, p[1], 1050)
    assert acts == [("nb", p[0].mac, 50, 1050 + 5000)]
    assert relays == []  # ttl = nb_hops - 1 = 0 for an unknown direction
    # 20 s later (1.5 m/s over 30 m) the next pole sees the walker
    f1 = p[1].local(True, 21000)
    assert p[1].dir == 1 and p[1].speed_cms == 150
    ahead, relays = deliver(f1, p[2], 21050)
    (kind, key, level, until), = ahead
    assert (kind, key, level) == ("nb", p[1].mac, 50)
    assert until >= 21050 + 20000  # held for the walker's arrival (30 m at 1.5 m/s)
    behind, _ = deliver(f1, p[0], 21050)
    assert ("fall_back", 22050) in behind  # the pole behind falls back sooner


def test_fast_mover_lights_further_ahead():
    p = street(5)
    p[1].receive(p[0].local(True, 1000)[0], 1050)
    f1 = p[1].local(True, 3300)  # 30 m in 2.3 s: 13 m/s
    assert p[1].dir == 1 and p[1].ahead_hops(13.0) == 2
    acts, relays = deliver(f1, p[2], 3350)
    assert acts and len(relays) == 1  # relayed one more hop
    acts3, relays3 = deliver(relays, p[3], 3400)
    assert acts3 and acts3[0][2] == 50
    acts4, _ = deliver(relays3, p[4], 3450)
    assert acts4 == []  # beyond ahead_hops: nothing (3 hops away)


def test_crossing_movers_make_direction_unknown():
    p = street()
    p[1].receive(p[0].local(True, 1000)[0], 1050)
    p[1].receive(p[2].local(True, 5000)[0], 5050)
    p[1].local(True, 21000)
    assert p[1].dir == 0  # detections on both sides: ambiguous


def test_stale_detection_is_not_reused():
    p = street()
    p[1].receive(p[0].local(True, 1000)[0], 1050)
    p[1].local(True, 21000)
    p[1].local(False, 45000)
    p[1].local(True, 60000)  # new mover: the old detection at p0 was already used
    assert p[1].dir == 0


def test_spoofed_and_replayed_frames_do_nothing():
    p = street()
    evil = W.Wave(p[0].mac, 0.0, b"guessed key")
    assert p[1].receive(evil.local(True, 1000)[0], 1050) == ([], [])
    f = p[0].local(True, 1000)[0]
    assert p[1].receive(f, 1050)[0]
    assert p[1].receive(f, 9000) == ([], [])  # replay
    assert p[1].stats["bad"] == 1 and p[1].stats["replay"] == 1
    assert p[1].receive(b"\x00" * 7, 9000) == ([], [])


def test_refresh_and_clear():
    p = street()
    p[0].local(True, 0)
    assert p[0].next_ms() == 2000
    assert p[0].tick(1999) == [] and len(p[0].tick(2000)) == 1
    clear = p[0].local(False, 5000)
    acts, _ = deliver(clear, p[1], 5050)
    assert acts == [("nb", p[0].mac, 50, 5050 + 5000)]  # the gap between sensor ranges
    assert p[0].next_ms() is None
