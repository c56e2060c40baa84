# MicroPython-side: store + journal round trip on the Unix filesystem (run by run_mp_tests.py)
import os

from bourg import store
from bourg.store import Journal

store.save("data/s", {"a": [1, 2], "b": "x"})
assert store.load("data/s") == {"a": [1, 2], "b": "x"}
rec = store.encode_record({"v": 2}, 99)
for k in range(len(rec)):
    with open("data/s.tmp", "wb") as f:
        f.write(rec[:k])
    assert store.load("data/s") == {"a": [1, 2], "b": "x"}, k
with open("data/s.tmp", "wb") as f:
    f.write(rec)
assert store.load("data/s") == {"v": 2}
with open("data/s", "wb") as f:
    f.write(b"BRG\x01garbage")
assert store.load("data/s", "dflt") == "dflt"

j = Journal("data/j", max_records=10)
for i in range(15):
    j.append({"i": i})
assert [r["i"] for r in j.records()] == list(range(5, 15)), list(j.records())
assert j.dropped == 5
j.drop_first(3)
j2 = Journal("data/j", max_records=10)
assert j2.seqs() == list(range(9, 16)), j2.seqs()
with open("data/j", "rb") as f:
    full = f.read()
for k in range(0, len(full), 7):
    with open("data/j", "wb") as f:
        f.write(full[:k])
    jr = Journal("data/j")
    seqs = jr.seqs()
    assert seqs == sorted(seqs)
with open("data/j", "wb") as f:
    f.write(full + b"\xb5\x01")
jr = Journal("data/j")
assert jr.torn
jr.append("tail")
assert list(Journal("data/j").records())[-1] == "tail"
jr.compact()
assert os.stat("data/j")[6] == jr.file_bytes
print("ALL OK")
