"""A power cut at every block write of a store update: after reboot the store holds the old or
the new record, never garbage, and the journal holds a prefix of its appends."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from host_tools.emulator import World
from host_tools.emulator.parts import Switch

LIB = Path(__file__).resolve().parents[1] / "firmware" / "lib"

MAIN = """
import json, machine, _world
from bourg import store
OLD = {"v": "old", "pad": "o" * 600}
NEW = {"v": "new", "pad": "n" * 900, "list": list(range(40))}
cur = store.load("/data/rec.bin", None)
print("LOADED", json.dumps(cur))
if cur is None:
    store.save("/data/rec.bin", OLD)
    print("SEEDED")
elif machine.Pin(4, machine.Pin.IN, machine.Pin.PULL_UP).value() == 0:
    w0 = _world.flash.writes
    store.save("/data/rec.bin", NEW)
    print("SAVED", w0, _world.flash.writes - w0)
print("IDLE")
"""

JOURNAL_MAIN = """
import json, machine, _world
from bourg.store import Journal
j = Journal("/data/events.j", max_records=50)
recs = [r for r in j.records()]
print("RECORDS", json.dumps(recs))
if machine.Pin(4, machine.Pin.IN, machine.Pin.PULL_UP).value() == 0:
    w0 = _world.flash.writes
    for i in range(3):
        j.append({"n": len(recs) + i, "pad": "x" * 100})
    print("APPENDED", w0, _world.flash.writes - w0)
print("IDLE")
"""


def _board(world: World, main: str) -> tuple:
    b = world.add_board({"device_id": "store", "site": "hil"},
                        {"main.py": main, "lib": LIB})
    sw = b.attach(Switch(4))
    return b, sw


def _run_until(b, pattern: str) -> str:
    mark = b.console_mark()
    b.start()
    b.wait_output(pattern, 10, start=mark)
    return b.output_since(mark)


def _loaded(text: str) -> dict | None:
    m = re.search(r"LOADED (.*)\r?\n", text)
    assert m, text
    return json.loads(m.group(1))


@pytest.mark.emulator_only
def test_power_cut_at_every_write_of_a_store_update(world: World) -> None:
    b, sw = _board(world, MAIN)
    _run_until(b, "IDLE")  # seeds OLD
    b.stop()
    snapshot = b.flash_path.read_bytes()

    sw.press()
    text = _run_until(b, "IDLE")
    assert _loaded(text)["v"] == "old"
    w0, n = map(int, re.search(r"SAVED (\d+) (\d+)", text).groups())
    b.stop()
    print("store update takes", n, "block writes")
    assert n >= 2, "an update must take several block writes for this test to mean anything"

    seen = set()
    for i in range(1, n + 1):
        b.flash_path.write_bytes(snapshot)
        sw.press()
        b.arm_power_cut(w0 + i)
        b.start()
        b.wait_state("off", 10)  # the cut happened mid-update
        sw.release()
        got = _loaded(_run_until(b, "IDLE"))
        b.stop()
        assert got is not None and got["v"] in ("old", "new"), f"cut at write {i}: {got}"
        if got["v"] == "new":
            assert got["list"] == list(range(40)) and got["pad"] == "n" * 900
        else:
            assert got["pad"] == "o" * 600
        seen.add(got["v"])
    assert seen == {"old", "new"} or seen == {"old"}
    # With no cut the update lands.
    b.flash_path.write_bytes(snapshot)
    sw.press()
    _run_until(b, "IDLE")
    b.stop()
    sw.release()
    assert _loaded(_run_until(b, "IDLE"))["v"] == "new"


@pytest.mark.emulator_only
def test_power_cut_at_every_write_of_journal_appends(world: World) -> None:
    b, sw = _board(world, JOURNAL_MAIN)
    sw.press()
    _run_until(b, "IDLE")  # three records to start with
    b.stop()
    snapshot = b.flash_path.read_bytes()
    text = _run_until(b, "IDLE")
    w0, n = map(int, re.search(r"APPENDED (\d+) (\d+)", text).groups())
    b.stop()
    print("three appends take", n, "block writes")
    assert n >= 3
    for i in range(1, n + 1):
        b.flash_path.write_bytes(snapshot)
        sw.press()
        b.arm_power_cut(w0 + i)
        b.start()
        b.wait_state("off", 10)
        sw.release()
        text = _run_until(b, "IDLE")
        b.stop()
        recs = json.loads(re.search(r"RECORDS (.*)\r?\n", text).group(1))
        # Never garbage: records are exactly a prefix of what was appended, in order.
        assert [r["n"] for r in recs] == list(range(len(recs))), f"cut at {i}: {recs}"
        assert 3 <= len(recs) <= 6
        assert all(r["pad"] == "x" * 100 for r in recs)
