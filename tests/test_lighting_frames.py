"""firmware/lighting/frames.py: HMAC, encoding, spoofed/replayed/corrupted frames."""
import hashlib
import hmac

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from host_tools.lighting import fw

F = fw.load("frames")
KEY = b"site-key-for-tests"
A = bytes.fromhex("240ac4000001")
B = bytes.fromhex("240ac4000002")


def frame(seq=1, key=KEY, src=A, epoch=1, **kw):
    args = {"origin": src, "event_id": seq, "x_dm": 300, "direction": 1, "speed_cms": 150,
            "age_ms": 20, "hops": 0, "ttl": 2}
    args.update(kw)
    return F.encode(key, F.PRESENCE, src, epoch, seq, args.pop("origin"), args.pop("event_id"),
                    **args)


@given(st.binary(max_size=100), st.binary(max_size=300))
def test_hmac_matches_stdlib(key, msg):
    assert F.hmac_sha256(key, msg) == hmac.new(key, msg, hashlib.sha256).digest()


def test_roundtrip_and_size():
    f = frame(seq=7, x_dm=-1234, direction=-1, speed_cms=987, age_ms=70000, hops=3, ttl=1)
    assert len(f) == F.FRAME_LEN <= 250
    d = F.decode(KEY, f)
    assert d == {"type": F.PRESENCE, "hops": 3, "ttl": 1, "src": A, "epoch": 1, "seq": 7,
                 "origin": A, "event": 7, "x_dm": -1234, "dir": -1, "speed_cms": 987,
                 "age_ms": 65535}


def test_spoofed_corrupted_and_foreign_frames_rejected():
    good = frame()
    with pytest.raises(F.FrameError, match="tag"):
        F.decode(b"another site", good)
    with pytest.raises(F.FrameError, match="tag"):
        F.decode(KEY, frame(key=b"attacker"))
    for i in range(len(good)):
        bad = bytearray(good)
        bad[i] ^= 0x01
        with pytest.raises(F.FrameError):
            F.decode(KEY, bytes(bad))
    with pytest.raises(F.FrameError, match="length"):
        F.decode(KEY, good[:-1])
    v2 = bytearray(good)
    v2[1] = 2
    with pytest.raises(F.FrameError, match="version"):
        F.decode(KEY, bytes(v2))


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_decode_fuzz_raises_only_frame_error(data):
    try:
        F.decode(KEY, data)
    except F.FrameError:
        pass


@given(st.binary(min_size=F.FRAME_LEN, max_size=F.FRAME_LEN))
def test_decode_fuzz_right_length(data):
    data = bytes([F.MAGIC, F.VERSION]) + data[2:]
    with pytest.raises(F.FrameError):
        F.decode(KEY, data)  # a random tag never verifies


def test_replay_window():
    w = F.ReplayWindow(size=32)
    assert w.check(A, 1, 10)
    assert not w.check(A, 1, 10)  # replay
    assert w.check(A, 1, 12)
    assert w.check(A, 1, 11)  # late but new, inside the window
    assert not w.check(A, 1, 11)
    assert w.check(A, 1, 100)
    assert not w.check(A, 1, 60)  # older than the window
    assert w.check(B, 1, 1)  # per source
    assert w.check(A, 2, 1)  # sender rebooted: new epoch
    assert not w.check(A, 1, 101)  # old epoch refused
    assert w.rejected == 4


def test_replay_window_bounded():
    w = F.ReplayWindow(max_sources=4)
    for i in range(10):
        assert w.check(bytes([0, 0, 0, 0, 0, i]), 1, 1)
    assert len(w._src) == 4


@given(st.lists(st.integers(0, 200), max_size=60))
def test_replay_window_accepts_each_seq_at_most_once(seqs):
    w = F.ReplayWindow()
    accepted = [s for s in seqs if w.check(A, 1, s)]
    assert len(accepted) == len(set(accepted))


@given(st.lists(st.integers(0, 400), max_size=80))
@example(list(range(40)))  # every frame of a busy street, in order: the mask fills up
@example(list(range(0, 80, 2)) + list(range(1, 80, 2)))
def test_replay_window_mask_stays_a_small_int_on_the_chip(seqs):
    """The ESP32's small ints have 31 bits: a default window's mask below 2**30 at every step
    means no frame check allocates a long on the heap. Also the same verdicts as an exact
    model: a sequence number is new, inside the window, and not seen."""
    w = F.ReplayWindow()
    seen, top = set(), None
    for s in seqs:
        want = top is None or (s > top) or (top - s < w.size and s not in seen)
        assert w.check(A, 1, s) == want
        if want:
            seen.add(s)
            top = s if top is None else max(top, s)
        assert 0 <= w._src[A][2] < 2 ** 30
