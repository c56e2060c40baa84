"""The parking radio protocol and the totem's bay state (pure modules, CPython)."""

import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from host_tools.parking import fw

reports = fw.load("reports")
bays = fw.load("bays")
sensor_state = fw.load("sensor_state")
detector = fw.load("detector")
KEY = bytes(range(16))


@given(st.sampled_from([1, 2, 3]), st.integers(1, 65535), st.integers(0, 65535),
       st.integers(0, 2**32 - 1), st.booleans(), st.integers(0, 100), st.integers(0, 4000))
def test_round_trip(ftype, node, epoch, seq, occ, conf, mv):
    f = reports.encode(KEY, ftype, node, epoch, seq, reports.OCCUPIED if occ else 0, conf,
                       100, mv, -5, 7, 30)
    assert len(f) == reports.FRAME_LEN and reports.peek_node(f) == node
    d = reports.decode(KEY, f)
    assert (d["type"], d["node"], d["epoch"], d["seq"], d["occupied"], d["confidence"],
            d["battery_mv"], d["temp_c"]) == (ftype, node, epoch, seq, occ, conf, mv, -5)


@settings(max_examples=200)
@given(st.integers(0, reports.FRAME_LEN * 8 - 1))
def test_any_bit_flip_is_refused(bit):
    f = bytearray(reports.encode(KEY, reports.REPORT, 3, 1, 9, reports.OCCUPIED))
    f[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(reports.FrameError):
        reports.decode(KEY, bytes(f))


def test_wrong_key_and_garbage_are_refused():
    f = reports.encode(KEY, reports.REPORT, 3, 1, 9)
    with pytest.raises(reports.FrameError):
        reports.decode(bytes(16), f)
    for junk in (b"", b"\xb8" * 31, f[:-1], 5):
        with pytest.raises(reports.FrameError):
            reports.decode(KEY, junk)


def test_epochs_and_sequences_order_with_wrap():
    assert reports.newer(1, 5, None)
    assert reports.newer(1, 6, (1, 5)) and not reports.newer(1, 5, (1, 5))
    assert not reports.newer(1, 4, (1, 5))
    assert reports.newer(2, 0, (1, 5))  # the node rebooted
    assert reports.newer(0, 0, (0xFFFF, 9))  # epoch wrapped
    assert not reports.newer(0xFFFF, 10, (0, 1))


def test_outbox_retries_with_backoff_then_gives_up_and_heartbeats():
    o = reports.Outbox(heartbeat_s=100, tries=3, retry_s=2)
    assert o.due(0) == "heartbeat"
    o.sent("heartbeat", 0)
    assert o.due(50) is None
    o.report(1, 60)
    assert o.due(60) == "report"
    o.sent("report", 60)
    assert o.due(61) is None and o.due(62) == "report"
    o.sent("report", 62)
    o.sent("report", o.s[2])
    assert o.due(1000) is None and not o.pending()  # given up
    assert o.due(o.s[3] + 100) == "heartbeat"
    o.report(2, 2000)
    assert not o.acked(1) and o.acked(2) and not o.pending()
    again = reports.Outbox(100, 3, 2, state=o.s)
    assert again.s == o.s


def test_an_ack_of_a_later_frame_settles_the_pending_report():
    """Every frame carries the bay's state: once the totem has acknowledged a heartbeat sent
    after the report (a question about the neighbours) or a retry numbered after it, retrying
    the report would only spend the battery."""
    o = reports.Outbox(heartbeat_s=100, tries=5, retry_s=2)
    o.report(7, 0)
    o.sent("report", 0)  # its ACK is lost
    assert o.pending() and not o.acked(6)  # an older frame's ACK settles nothing
    assert o.acked(8) and not o.pending()  # the question heartbeat after it was acked
    assert o.due(1000) == "heartbeat"
    o.report(9, 2000)
    assert not o.acked(9 - 1) and o.acked(9)


def test_uplink_plans_each_wake_and_takes_only_the_ack_of_its_last_frame():
    """What a wake sends: a due frame awaits its ACK; an early heartbeat awaits one only to
    hear the totem's answer (a MOVING frame alone does not); a heartbeat takes the next seq
    and a retry the newest; only an ACK naming this node, epoch and seq counts."""
    uplink = fw.load("uplink")
    up = uplink.Uplink(KEY, 3, 7, 0, reports.Outbox(heartbeat_s=100, tries=5, retry_s=2))
    up.report(0)
    assert up.plan(0) == ("report", True) and up.plan(0, True, True) == ("report", True)
    up.frame("report", 0, uplink.flags(True), 90, 100, 3000, 12, 1, 0)
    assert up.plan(1) is None
    assert up.plan(1, question=True) == ("heartbeat", True)
    assert up.plan(1, moving=True) == ("heartbeat", False)
    f = reports.decode(KEY, up.frame("heartbeat", 1, uplink.flags(True, moving=True), 90, 100,
                                     3000, 12, 1, 1))
    assert (f["type"], f["seq"], f["flags"]) == (
        reports.HEARTBEAT, 2, reports.OCCUPIED | reports.MOVING)
    f = reports.decode(KEY, up.frame("report", 2, 0, 90, 100, 3000, 12, 1, 2))
    assert (f["type"], f["seq"]) == (reports.REPORT, 2)  # a retry: the newest seq
    ack = reports.encode(KEY, reports.ACK, 3, 7, 2)
    for other in (reports.encode(KEY, reports.ACK, 4, 7, 2), reports.encode(KEY, reports.ACK,
                  3, 6, 2), reports.encode(KEY, reports.ACK, 3, 7, 1), reports.encode(
                  bytes(16), reports.ACK, 3, 7, 2), reports.encode(KEY, reports.REPORT, 3, 7,
                  2), b"junk", ack[:-1]):
        assert up.ack_of(other) is None
    up.settle(None)
    assert up.box.pending()
    up.settle(up.ack_of(ack))
    assert not up.box.pending()
    assert uplink.flags(False, low_battery=True, recalibrated=True) == \
        reports.LOW_BATTERY | reports.RECALIBRATED


def _totem():
    spec = [{"node": 1, "bay": "A01", "zone": "A"}, {"node": 2, "bay": "A02", "zone": "A"}]
    return bays.Bays(spec, {1: KEY, 2: bytes(16)}, heartbeat_s=10, missed=2)


def test_totem_acks_counts_and_ignores_duplicates_and_late_frames():
    t = _totem()
    assert t.free("A") == 0  # nothing known yet: nothing promised
    f1 = reports.encode(KEY, reports.HEARTBEAT, 1, 1, 1)
    ack = t.receive(f1, 0)
    a = reports.decode(KEY, ack)
    assert (a["type"], a["node"], a["epoch"], a["seq"]) == (reports.ACK, 1, 1, 1)
    assert t.free("A") == 1 and t.take_changes() == [1]
    f2 = reports.encode(KEY, reports.REPORT, 1, 1, 3, reports.OCCUPIED)
    t.receive(f2, 100)
    assert t.free("A") == 0
    late = reports.encode(KEY, reports.REPORT, 1, 1, 2, 0)  # older, arrives after seq 3
    assert t.receive(late, 200) is not None  # still acked, so the node stops retrying
    assert t.receive(f2, 300) is not None  # a duplicate after a lost ACK
    assert t.bay_state(1)["occupied"] is True and t.stats["old"] == 2
    assert t.receive(reports.encode(KEY, reports.REPORT, 2, 1, 1), 0) is None  # wrong key
    assert t.receive(reports.encode(KEY, reports.REPORT, 9, 1, 1), 0) is None  # unknown
    assert t.receive(reports.encode(KEY, reports.ACK, 1, 1, 9), 0) is None  # not from a node


def test_totem_flags_silent_sensors_and_does_not_count_them_free():
    t = _totem()
    t.receive(reports.encode(KEY, reports.HEARTBEAT, 1, 1, 1), 0)
    t.take_changes()
    t.tick(24000)
    assert not t.bay_state(1)["silent"]
    t.tick(25001)  # 2 heartbeats of 10 s and a half
    assert t.bay_state(1)["silent"] and t.free("A") == 0 and t.take_changes() == [1]
    t.receive(reports.encode(KEY, reports.HEARTBEAT, 1, 2, 1), 26000)  # rebooted node
    assert not t.bay_state(1)["silent"] and t.free("A") == 1


def test_totem_relays_a_recalibration_in_the_next_ack_until_the_node_confirms():
    t = _totem()
    with pytest.raises(ValueError):
        t.request_recalibrate("Z99")
    t.receive(reports.encode(KEY, reports.HEARTBEAT, 1, 1, 1), 0)
    assert t.request_recalibrate("A01") == 1
    ack = reports.decode(KEY, t.receive(reports.encode(KEY, reports.HEARTBEAT, 1, 1, 2), 10))
    assert ack["flags"] & reports.RECALIBRATED  # asked in the ACK to the node's next frame
    # a frame that does not say it was done (e.g. sent before the ACK arrived): ask again
    ack = reports.decode(KEY, t.receive(reports.encode(KEY, reports.REPORT, 1, 1, 3), 20))
    assert ack["flags"] & reports.RECALIBRATED and t.take_recalibrated() == []
    done = reports.encode(KEY, reports.REPORT, 1, 1, 4, reports.RECALIBRATED)
    ack = reports.decode(KEY, t.receive(done, 30))
    assert not ack["flags"] & reports.RECALIBRATED and t.take_recalibrated() == [1]
    # the node retries it after a lost ACK: a duplicate, acked, nothing asked or reported
    ack = reports.decode(KEY, t.receive(done, 40))
    assert ack["flags"] == 0 and t.take_recalibrated() == []
    # a node that says so unasked (its own retry of an older confirmation) changes nothing
    t.receive(reports.encode(KEY, reports.REPORT, 1, 1, 5, reports.RECALIBRATED), 50)
    assert t.take_recalibrated() == []


def test_totem_tells_a_node_when_its_neighbours_last_changed():
    """A01 A02 A03 side by side, then a space with no sensor and A04. The ACK to a node's
    frame says when one of its neighbours last changed (the time the neighbour's node saw
    it, from its frame's since_s), and whether that covers them all: beside a space with no
    sensor, or a neighbour unheard or silent, only a recent change means something."""
    keys = {n: bytes([n]) * 16 for n in range(1, 5)}
    spec = [{"node": n, "bay": f"A0{n}", "zone": "A"} for n in range(1, 5)]
    t = bays.Bays(spec, keys, heartbeat_s=60, missed=3, rows=[["A01", "A02", "A03", "", "A04"]])

    def send(node, seq, now_ms, occ=False, since=0):
        f = reports.encode(keys[node], reports.HEARTBEAT, node, 1, seq,
                           reports.OCCUPIED if occ else 0, since_s=since)
        return reports.neighbour_age(reports.decode(keys[node], t.receive(f, now_ms)))

    assert send(2, 1, 0) == (None, False)  # A01 and A03 not heard yet: no word at all
    assert send(1, 1, 0) == (-1, True)  # the row's end: its one neighbour, A02, unchanged
    assert send(3, 1, 0) == (-1, False)  # A02 unchanged, but a space with no sensor beside
    assert send(4, 1, 0) == (None, False)  # A04 has no sensed neighbour at all
    assert send(2, 2, 1000) == (-1, True)  # A01 and A03 heard, neither has changed
    send(1, 2, 50_000, occ=True, since=4)  # A01's node saw a car 4 s before it reported
    assert send(2, 3, 60_000) == (14, True)
    send(2, 4, 70_000, occ=True)
    assert send(3, 2, 71_000) == (1, False)  # A02's car explains a disturbance at A03
    assert t.neighbour_age(1, 72_000) == (2, True)
    t.tick(280_001)  # A01 goes silent (unheard for 3.5 heartbeats): A03 alone is vouched for
    assert t.neighbour_age(2, 280_001) == (-1, False)
    t.tick(300_000)  # and A03
    assert t.neighbour_age(2, 300_000) == (None, False)
    with pytest.raises(ValueError):
        bays.Bays(spec, keys, rows=[["A01", "Z9"]])


def test_a_node_that_predates_the_partial_word_reads_no_word_and_decides_alone():
    """The totem's answer covering only some neighbours has a flag of its own: a node whose
    firmware knows only NEIGHBOURS takes it for no answer, never for "nothing changed
    beside you" (which would make it count a van in the unsensed space as its car)."""
    keys = {1: b"\x01" * 16, 2: b"\x02" * 16}
    spec = [{"node": n, "bay": f"A0{n}", "zone": "A"} for n in (1, 2)]
    t = bays.Bays(spec, keys, heartbeat_s=60, rows=[["", "A01", "A02"]])
    for n in (2, 1):
        ack = reports.decode(keys[n], t.receive(
            reports.encode(keys[n], reports.HEARTBEAT, n, 1, 1), 0))
    assert ack["flags"] & reports.SOME_NEIGHBOURS and not ack["flags"] & reports.NEIGHBOURS
    det = detector.Detector()
    det.neighbour_hint(-1, 5, every=False)
    assert det.hint == detector.NO_ANSWER
    det.neighbour_hint(3, 5, every=False)
    assert det.hint == detector.NEIGHBOUR
    det.neighbour_hint(60, 5, every=True)
    assert det.hint == detector.CLEAR


def test_a_node_saying_its_field_moves_is_a_change_coming_for_its_neighbours():
    """A02's node flags MOVING (a car manoeuvring over it, not settled yet): the ACKs to
    A01 and A03 say a neighbour changed just now, so a small offset appearing at their
    sensors is not counted as their own car. A02's own state, its count of changes and the
    zone's free spaces do not move; a replayed MOVING frame does not renew it."""
    keys = {n: bytes([n]) * 16 for n in range(1, 4)}
    spec = [{"node": n, "bay": f"A0{n}", "zone": "A"} for n in range(1, 4)]
    t = bays.Bays(spec, keys, heartbeat_s=60, rows=[["A01", "A02", "A03"]])

    def frame(node, seq, flags=0):
        return reports.encode(keys[node], reports.HEARTBEAT, node, 1, seq, flags)

    for n in (1, 2, 3):
        t.receive(frame(n, 1), 0)
    t.take_changes()
    assert t.neighbour_age(1, 1000) == t.neighbour_age(3, 1000) == (-1, True)
    moving = frame(2, 2, reports.MOVING)
    t.receive(moving, 100_000)
    assert t.neighbour_age(1, 103_000) == t.neighbour_age(3, 103_000) == (3, True)
    assert t.neighbour_age(2, 103_000) == (-1, True)  # A01 and A03 have not moved
    assert t.bay[2]["occupied"] is False and t.take_changes() == []
    assert t.free("A") == 3
    t.receive(moving, 200_000)  # a replay of the same frame
    assert t.neighbour_age(1, 203_000) == (103, True)


@given(st.integers(0, 0xFFFF), st.integers(0, 2**32 - 1), st.booleans(),
       st.integers(-1, 2**31 - 1), st.binary(min_size=0, max_size=340), st.booleans())
def test_sensor_state_round_trip_and_corruption(epoch, seq, occ, armed, blob, recal):
    state = {"epoch": epoch, "seq": seq, "changes": 3, "occupied": occ, "recal": recal,
             "last_change_s": 1234, "outbox": [5, 4, 100, -7], "last_sample_s": 99,
             "armed_at_s": armed, "calm_since_s": 1200}
    data = sensor_state.pack(state, blob)
    assert sensor_state.unpack(data) == dict(state, detector=blob)
    # the layout a node woken by a newer image reads: what the older images wrote
    body = struct.pack("<4sHIHBIiiiiIiI", b"BPS3", epoch, seq, 3, (1 if occ else 0)
                       | (2 if recal else 0), 1234, 5, 4, 100, -7, 99, armed, 1200) + blob
    assert data == body + struct.pack("<I", zlib.crc32(body))
    bad = bytearray(data)
    bad[len(bad) // 2] ^= 1
    assert sensor_state.unpack(bytes(bad)) is None
    assert sensor_state.unpack(b"") is None and sensor_state.unpack(None) is None


def test_battery_estimate_adds_up():
    from host_tools.parking import battery as b

    # 8 frames in the measured run, 2 of them MOVING (counted per day instead, below)
    m = b.Measured(wakes=10, light_samples=90, run_s=2.0, frames=8, reports=3, moving=2)
    assert m.run_ms_per_sample == 20.0 and m.frames_per_report == 2.0
    day = b.Day(wakes=80, follow_samples=700, changes=24, questions=5, moving=18)
    # the chip's running time is the stated assumption, never the board's awake time (20 ms
    # here), which follows the host's load
    e = b.estimate(m, day, heartbeat_s=1800, boot_ms=250.0, ack_wait_ms=60.0)
    assert e.run_ms_per_sample == b.RUN_MS == 10.0
    wake = (80 * 0.250 + 780 * 0.010) * 30.0 / 3600
    light = 700 * 1.0 * 0.8 / 3600
    frames = 24 * 2 + 48 + 5
    radio = (frames * (0.001 * 240 + 0.060 * 100) + 18 * 0.001 * 240) / 3600
    sleep = 24 * (10 + 25) / 1000
    assert abs(e.wake_mah_per_day - wake) < 1e-3 and abs(e.light_sleep_mah_per_day - light) < 1e-3
    assert abs(e.radio_mah_per_day - radio) < 1e-3 and abs(e.sleep_mah_per_day - sleep) < 1e-3
    assert abs(e.years - 3000 / (wake + light + radio + sleep) / 365) < 0.01
    # a wake every second (no threshold interrupt) is what made the goal unreachable
    t = b.estimate(m, b.timer_day(24), mag_ua=b.QMC_STANDBY_UA)
    assert t.years < 0.1 < 5 < e.years


def _shared_normal_samples() -> list[str]:
    import glob

    from host_tools.parking import traces

    return sorted(glob.glob(str(traces.shared_dir() / "samples" / "bay-normal-*")))


def test_gated_replay_keeps_the_detector_s_verdicts_and_sleeps():
    """On a shared normal sample, sleeping behind the wake-on-change threshold changes no
    verdict that matters and takes a small fraction of the samples."""
    from host_tools.parking import duty, score, traces
    from host_tools.testing.plugin import require_shared

    require_shared(traces.shared_dir() / "samples")
    assert _shared_normal_samples(), "no bay-normal-* trace in the shared samples"

    path = _shared_normal_samples()[0]
    tr = traces.read_trace(path)
    pred, st = duty.replay_gated(tr)
    s = score.score(tr.t, tr.occupied, pred)
    assert s["accuracy_pct"] >= 99.0 and s["changes_detected_pct"] == 100.0
    per_day = st.per_day()
    assert per_day["int_wakes"] + per_day["timer_wakes"] + per_day["follow_samples"] < 2000
    assert per_day["timer_wakes"] >= 86400 / 1800 / 4  # check-ins keep coming
    # an ungated 1 Hz node would take 86400 samples a day
    assert st.changes == int(s["true_arrivals"]) + int(s["true_departures"])


def test_guidance_leds_say_free_taken_or_dark_and_never_promise_an_unknown_bay():
    t = _totem()
    names = ["A02", "A01", "Z99"]  # the strip's order, and a name the totem does not have
    assert t.guidance(names) == [bays.DARK] * 3  # nothing heard yet
    t.receive(reports.encode(KEY, reports.HEARTBEAT, 1, 1, 1), 0)
    assert t.guidance(names) == [bays.DARK, bays.FREE, bays.DARK]
    t.receive(reports.encode(KEY, reports.REPORT, 1, 1, 2, reports.OCCUPIED), 10)
    assert t.guidance(names) == [bays.DARK, bays.TAKEN, bays.DARK]
    t.tick(10 + 25001)  # the sensor went silent
    assert t.guidance(names) == [bays.DARK] * 3
