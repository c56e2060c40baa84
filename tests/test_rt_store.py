"""bourg.store: atomic records and the journal survive torn writes and corruption."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "mp"))
import hostsetup  # noqa: F401
import pytest
from bourg import store
from bourg.store import Journal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

HS = settings(max_examples=60, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
json_vals = st.recursive(
    st.none() | st.booleans() | st.integers(-2**31, 2**31) | st.text(max_size=20),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
    max_leaves=12)


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def test_roundtrip_and_default(tmp_path):
    p = str(tmp_path / "d" / "s")
    assert store.load(p, "dflt") == "dflt"
    store.save(p, {"a": 1})
    assert store.load(p) == {"a": 1}
    store.save(p, [1, 2])
    assert store.load(p) == [1, 2]
    assert not os.path.exists(p + ".tmp")


def test_bad_object_raises_and_keeps_old(tmp_path):
    p = str(tmp_path / "s")
    store.save(p, 1)
    with pytest.raises(TypeError):
        store.save(p, {"x": object()})
    assert store.load(p) == 1


def test_generation_increases(tmp_path):
    p = str(tmp_path / "s")
    store.save(p, "a")
    store.save(p, "b")
    with open(p, "rb") as f:
        assert store.decode_record(f.read())[0] == 2


@HS
@given(old=json_vals, new=json_vals)
def test_power_cut_at_every_byte_of_tmp(tmp_path, old, new):
    """main holds `old`; the new record was cut after k bytes: load gives old (or new if the
    temp file is complete), never anything else."""
    p = str(tmp_path / "s")
    store.save(p, old)
    with open(p, "rb") as f:
        gen = store.decode_record(f.read())[0]
    rec = store.encode_record(new, gen + 1)
    for k in range(len(rec) + 1):
        write(p + ".tmp", rec[:k])
        got = store.load(p, "DEFAULT")
        if k == len(rec):
            assert got == new
        else:
            assert got == old
        assert store.load(p, "DEFAULT") in (old, new)


@HS
@given(new=json_vals)
def test_cut_first_save_gives_default(tmp_path, new):
    p = str(tmp_path / "first")
    rec = store.encode_record(new, 1)
    for k in range(len(rec)):
        write(p + ".tmp", rec[:k])
        assert store.load(p, "DEFAULT") == "DEFAULT"


@HS
@given(val=json_vals, data=st.data())
def test_corruption_detected(tmp_path, val, data):
    p = str(tmp_path / "s")
    store.save(p, val)
    with open(p, "rb") as f:
        good = f.read()
    i = data.draw(st.integers(0, len(good) - 1))
    x = data.draw(st.integers(1, 255))
    bad = bytearray(good)
    bad[i] ^= x
    write(p, bytes(bad))
    before = store.stats["corrupt"]
    assert store.load(p, "DEFAULT") == "DEFAULT"
    assert store.stats["corrupt"] == before + 1
    cut = data.draw(st.integers(0, len(good) - 1))
    write(p, good[:cut])
    assert store.load(p, "DEFAULT") == "DEFAULT"


def test_main_missing_tmp_complete(tmp_path):
    """FAT-style replace (remove then rename) cut in the middle: only .tmp exists."""
    p = str(tmp_path / "s")
    write(p + ".tmp", store.encode_record({"v": 2}, 5))
    assert store.load(p) == {"v": 2}
    assert os.path.exists(p) and not os.path.exists(p + ".tmp")


def test_stale_older_tmp_ignored(tmp_path):
    p = str(tmp_path / "s")
    write(p, store.encode_record("new", 7))
    write(p + ".tmp", store.encode_record("old", 6))
    assert store.load(p) == "new"


def test_garbage_files(tmp_path):
    p = str(tmp_path / "s")
    write(p, b"\x00" * 3)
    assert store.load(p, 0) == 0
    write(p, b"BRG\x01" + b"\xff" * 12)
    assert store.load(p, 0) == 0
    os.mkdir(p + "x")
    assert store.load(p + "x", 0) == 0  # a directory where a file should be


def test_write_atomic_plain(tmp_path):
    p = str(tmp_path / "a" / "b.json")
    store.write_atomic(p, b"{}")
    with open(p, "rb") as f:
        assert f.read() == b"{}"


# ------------------------------------------------------------------------------------- journal

def test_journal_basic(tmp_path):
    p = str(tmp_path / "q")
    j = Journal(p)
    assert len(j) == 0 and list(j.records()) == [] and j.first() is None
    assert [j.append({"i": i}) for i in range(5)] == [1, 2, 3, 4, 5]
    assert list(j.records()) == [{"i": i} for i in range(5)]
    assert j.drop_first(2) == 2
    assert j.first() == (3, {"i": 2})
    j2 = Journal(p)
    assert list(j2.entries()) == [(3, {"i": 2}), (4, {"i": 3}), (5, {"i": 4})]
    assert j2.next_seq == 6
    j2.compact()
    j3 = Journal(p)
    assert j3.seqs() == [3, 4, 5] and j3.next_seq == 6


def test_journal_seq_survives_empty_compaction(tmp_path):
    p = str(tmp_path / "q")
    j = Journal(p)
    for i in range(3):
        j.append(i)
    j.clear()
    j.compact()
    assert len(Journal(p)) == 0
    assert Journal(p).append("x") == 4


def test_journal_bound_drops_oldest(tmp_path):
    j = Journal(str(tmp_path / "q"), max_records=5)
    for i in range(8):
        j.append(i)
    assert list(j.records()) == [3, 4, 5, 6, 7]
    assert j.dropped == 3
    assert list(Journal(str(tmp_path / "q"), max_records=5).records()) == [3, 4, 5, 6, 7]


def test_journal_max_bytes(tmp_path):
    p = str(tmp_path / "q")
    j = Journal(p, max_records=1000, max_bytes=600, max_payload=200)
    for i in range(100):
        j.append({"n": i, "pad": "x" * 40})
        assert os.path.getsize(p) <= 600 + 80
    recs = list(j.records())
    assert recs[-1]["n"] == 99 and j.dropped == 100 - len(recs)
    assert [r["n"] for r in recs] == list(range(100 - len(recs), 100))


def test_journal_ack_markers_compact_eventually(tmp_path):
    p = str(tmp_path / "q")
    j = Journal(p, max_bytes=2000)
    for i in range(500):
        s = j.append({"i": i})
        j.drop_through(s)
        assert os.path.getsize(p) <= 2000 + 64
    assert len(j) == 0 and j.next_seq == 501


def test_journal_oversize_and_bad_records_change_nothing(tmp_path):
    p = str(tmp_path / "q")
    j = Journal(p, max_payload=50)
    j.append("ok")
    size = os.path.getsize(p)
    with pytest.raises(ValueError):
        j.append("x" * 100)
    with pytest.raises(TypeError):
        j.append({1, 2})
    assert os.path.getsize(p) == size and list(j.records()) == ["ok"]


def _history(tmp_path, objs, drops):
    p = str(tmp_path / "q")
    for suffix in ("", ".tmp"):
        if os.path.exists(p + suffix):
            os.remove(p + suffix)
    j = Journal(p)
    hist = {}
    for i, o in enumerate(objs):
        hist[j.append(o)] = o
        if i in drops:
            j.drop_first(1)
    return p, j, hist


@pytest.mark.slow
@settings(HS, max_examples=20)  # each example cuts at every offset: ~6,000 cuts in all
@given(objs=st.lists(json_vals, min_size=1, max_size=8),
       drops=st.sets(st.integers(0, 7), max_size=3))
def test_journal_truncated_at_every_offset(tmp_path, objs, drops):
    """A power cut can leave the file at any length: reading yields only genuine records, in
    seq order, and the next append works and is read back last."""
    p, j, hist = _history(tmp_path, objs, drops)
    expected = list(j.entries())
    with open(p, "rb") as f:
        full = f.read()
    for k in range(len(full) + 1):
        write(p, full[:k])
        jr = Journal(p)
        got = list(jr.entries())
        seqs = [s for s, _ in got]
        assert seqs == sorted(seqs)
        for s, o in got:
            assert hist[s] == o
        if k == len(full):
            assert got == expected
        s_new = jr.append("after")
        assert not jr.torn
        again = list(Journal(p).entries())
        assert again[-1] == (s_new, "after")
        assert again[:-1] == got
        # only a cut into completed frames (which a power cut cannot do) may reuse a seq
        assert s_new > max(seqs + [0])
        if k == len(full):
            assert s_new > max(hist)


@HS
@given(objs=st.lists(st.integers(0, 1000), min_size=3, max_size=8), data=st.data())
def test_journal_corruption_in_the_middle(tmp_path, objs, data):
    """A damaged frame loses only itself; later records are found again (resync on magic)."""
    p, _j, hist = _history(tmp_path, objs, set())
    with open(p, "rb") as f:
        full = bytearray(f.read())
    i = data.draw(st.integers(0, len(full) - 1))
    full[i] ^= data.draw(st.integers(1, 255))
    write(p, bytes(full))
    jr = Journal(p)
    got = list(jr.entries())
    for s, o in got:
        assert hist[s] == o
    assert len(got) >= len(objs) - 2  # at most the hit frame (+ one whose header it hid)
    assert [s for s, _ in got] == sorted(s for s, _ in got)


def test_journal_interrupted_compaction(tmp_path):
    p = str(tmp_path / "q")
    j = Journal(p)
    for i in range(4):
        j.append(i)
    j.drop_first(1)
    write(p + ".tmp", b"\xb5garbage")  # compaction cut while writing the temp file
    assert list(Journal(p).records()) == [1, 2, 3]
    assert not os.path.exists(p + ".tmp")
    # FAT-style replace cut after remove: only the complete temp file exists
    j = Journal(p)
    j.compact()
    os.rename(p, p + ".tmp")
    assert list(Journal(p).records()) == [1, 2, 3]


def test_journal_torn_tail_truncated_on_append(tmp_path):
    p = str(tmp_path / "q")
    j = Journal(p)
    j.append("a")
    with open(p, "ab") as f:
        f.write(b"\xb5\x01\x05")  # half a frame header
    j = Journal(p)
    assert j.torn and list(j.records()) == ["a"]
    j.append("b")
    assert not j.torn
    assert list(Journal(p).records()) == ["a", "b"]
