"""Over-the-air app updates on virtual boards and a real mosquitto: a signed release rolls out
in waves and every board confirms it; a release whose app crashes at boot rolls back by
itself; a tampered, foreign or older manifest is refused before a byte is fetched."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from host_tools.build import firmware, mpy
from host_tools.emulator import Board, World
from host_tools.field import ota
from host_tools.field.mosquitto import Mosquitto
from host_tools.field.mqtt_watch import Message, Watcher
from host_tools.field.registry import board_update_key

from .fleet import add_board, events, fieldtest_config

pytestmark = pytest.mark.emulator_only

SITE_KEY = "0123456789abcdef0123456789abcdef"  # test-only site update key
NEW = "0.2.0"


def _board(world: World, mosquitto: Mosquitto, device_id: str) -> Board:
    config = fieldtest_config(device_id, port=mosquitto.port, tick_ms=1000)
    return add_board(world, mosquitto, config,
                     update_key=board_update_key(SITE_KEY, device_id))


def _rollout(mosquitto: Mosquitto, release: ota.Release, ids: list[str],
             **kw: Any) -> ota.Rollout:
    def factory(on_message: Any, topics: tuple[str, ...]) -> Watcher:
        return Watcher(mosquitto.host, mosquitto.port, topics=topics,
                       user=mosquitto.ops_user, password=mosquitto.ops_password,
                       client_id="bourg-update-test", on_message=on_message)

    boards = {d: ota.BoardUpdate(d, board_update_key(SITE_KEY, d)) for d in ids}
    r = ota.Rollout(factory, "hil", release, boards, health_s=60, **kw)
    r.start()
    return r


def _online(ops: Watcher, ids: list[str]) -> None:
    ops.wait_for(lambda ms: all(any(m.topic == f"bourg/hil/{d}/info" for m in ms)
                                for d in ids), 30)


def _outcomes(ops: Watcher, device_id: str) -> list[dict[str, Any]]:
    return [e["data"] for e in events(ops.on(f"/{device_id}/events/update"), "update")]


def test_a_release_rolls_out_in_waves_and_every_board_confirms_it(
        world: World, mosquitto: Mosquitto, ops: Watcher) -> None:
    ids = ["ota-1", "ota-2", "ota-3"]
    boards = [_board(world, mosquitto, d) for d in ids]
    for b in boards:
        b.start()
    _online(ops, ids)
    release = ota.build_release("fieldtest", NEW)
    changes: list[tuple[str, str]] = []
    r = _rollout(mosquitto, release, ids,
                 on_change=lambda b: changes.append((b.device_id, b.state)))
    try:
        assert r.run(canary=1, wave_timeout_s=120), [b.row() for b in r.boards.values()]
    finally:
        r.close()
    # canary first: the first board was done before the others were sent anything
    first_ok = changes.index(("ota-1", "ok"))
    assert all(changes.index((d, "sent")) > first_ok for d in ids[1:]), changes
    for d, b in zip(ids, boards, strict=True):
        info = [json.loads(m.payload) for m in ops.on(f"/{d}/info")]
        assert info[-1]["fw"] == NEW
        assert [o["outcome"] for o in _outcomes(ops, d)][-2:] == ["staged", "ok"]
        b.wait_output("health check passed", 5)
        # only what differs went over the air: the stamped version, not the whole app
        assert 0 < r.boards[d].fetched < sum(len(v) for v in release.files.values()) / 10
        # the app keeps working: its ticks go on after the update
        n = len(events(ops.on(f"/{d}/events/tick"), "tick"))
        ops.wait_for(lambda ms, d=d, n=n: len(events(
            [m for m in ms if f"/{d}/" in m.topic], "tick")) > n + 1, 20)
    # a board already on the release is not sent it again
    r2 = _rollout(mosquitto, release, ids)
    try:
        assert r2.run(wave_timeout_s=30)
        assert {b.detail for b in r2.boards.values()} == {"already running it"}
    finally:
        r2.close()


def _broken_release(tmp_path: Path) -> ota.Release:
    """The field-test app, version NEW, whose app raises as it starts."""
    good = ota.build_release("fieldtest", NEW)
    src = tmp_path / "fieldtest_app.py"
    src.write_text((firmware.FIRMWARE / "fieldtest" / "fieldtest_app.py").read_text() +
                   "\n\ndef _broken(self, rt):\n    raise RuntimeError('release bug')\n\n\n"
                   "FieldTest.__init__ = _broken\n")
    files = dict(good.files)
    files["/fieldtest_app.mpy"] = mpy.compile_file(src, source_name="fieldtest_app.py",
                                                   march="xtensawin").read_bytes()
    return ota.Release("fieldtest", NEW, files)


def test_an_app_that_crashes_at_boot_rolls_back_by_itself(
        world: World, mosquitto: Mosquitto, ops: Watcher, tmp_path: Path) -> None:
    b = _board(world, mosquitto, "ota-bad")
    b.start()
    _online(ops, ["ota-bad"])
    r = _rollout(mosquitto, _broken_release(tmp_path), ["ota-bad"])
    try:
        assert not r.run(wave_timeout_s=120)
    finally:
        r.close()
    row = r.boards["ota-bad"]
    assert row.state == "rolled_back", row.row()
    assert row.running == "0.1.0"
    b.wait_output("release bug", 5)
    # back on the old app, which works, and the bad version is refused from now on
    ops.wait_for(lambda ms: json.loads([m for m in ms if m.topic.endswith("/ota-bad/info")]
                                       [-1].payload)["fw"] == "0.1.0", 20)
    r2 = _rollout(mosquitto, _broken_release(tmp_path), ["ota-bad"])
    try:
        assert not r2.run(wave_timeout_s=30)
    finally:
        r2.close()
    assert r2.boards["ota-bad"].state == "refused"
    assert "rolled back here before" in r2.boards["ota-bad"].detail


def _refusal(ops: Watcher, r: ota.Rollout, device_id: str, payload: bytes) -> str:
    n = len(_outcomes(ops, device_id))
    assert r._watcher is not None
    r._watcher.publish(f"bourg/hil/{device_id}/cmd/update", payload)
    ops.wait_for(lambda ms: len(_outcomes(ops, device_id)) > n, 15)
    out = _outcomes(ops, device_id)[-1]
    assert out["outcome"] == "refused", out
    return str(out["error"])


def test_a_tampered_foreign_or_older_manifest_is_refused_before_any_fetch(
        world: World, mosquitto: Mosquitto, ops: Watcher) -> None:
    b = _board(world, mosquitto, "ota-t")
    b.start()
    _online(ops, ["ota-t"])
    release = ota.build_release("fieldtest", NEW)
    r = _rollout(mosquitto, release, ["ota-t"])
    gets: list[Message] = []
    key = board_update_key(SITE_KEY, "ota-t")
    try:
        good = ota.manifest_payload(release, site="hil", device_id="ota-t", key_hex=key,
                                    update_id=r.update_id)
        tampered = good.replace(b'"version":"0.2.0"', b'"version":"0.3.0"')
        assert tampered != good
        assert "bad tag" in _refusal(ops, r, "ota-t", tampered)
        other = ota.manifest_payload(release, site="hil", device_id="ota-t",
                                     key_hex=board_update_key(SITE_KEY, "ota-other"),
                                     update_id=r.update_id)
        assert "bad tag" in _refusal(ops, r, "ota-t", other)
        older = ota.manifest_payload(ota.build_release("fieldtest", "0.0.9"), site="hil",
                                     device_id="ota-t", key_hex=key, update_id=r.update_id)
        assert "not newer" in _refusal(ops, r, "ota-t", older)
        gets = ops.on("/ota-t/update/get")
    finally:
        r.close()
    assert gets == [], "a refused manifest fetched files"
    assert "refused" in b.output_text()
