"""Over-the-air app updates on virtual boards and a real mosquitto: a signed release rolls out
in waves and every board confirms it; a release whose app crashes at boot rolls back by
itself; a tampered, foreign or older manifest is refused before a byte is fetched."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from host_tools.build import firmware, mpy
from host_tools.emulator import Board, World
from host_tools.emulator.waiting import wait_until
from host_tools.field import ota
from host_tools.field.mosquitto import Mosquitto
from host_tools.field.mqtt_watch import Message, Watcher
from host_tools.field.registry import board_update_key
from host_tools.testing.rigs import street

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
                       client_id=f"bourg-update-test-{time.monotonic_ns()}",
                       on_message=on_message)

    boards = {d: ota.BoardUpdate(d, board_update_key(SITE_KEY, d)) for d in ids}
    r = ota.Rollout(factory, "hil", release, boards, health_s=60, **kw)
    r.start()
    return r


def _online(ops: Watcher, ids: list[str]) -> None:
    ops.wait_for(lambda ms: all(any(m.topic == f"bourg/hil/{d}/info" for m in ms)
                                for d in ids), 30)


def _outcomes(ops: Watcher, device_id: str) -> list[dict[str, Any]]:
    return [e["data"] for e in events(ops.on(f"/{device_id}/events/update"), "update")]


def test_a_release_rolls_out_to_a_street_of_poles_in_waves(
        tmp_path: Path, mosquitto: Mosquitto, ops: Watcher) -> None:
    ids = ["pole-u1", "pole-u2", "pole-u3"]
    with street.street_world(tmp_path / "street") as world:
        poles = [street.add_pole(world, street.pole_config(d, 30.0 * i, port=mosquitto.port),
                                 mosquitto, update_key=board_update_key(SITE_KEY, d))
                 for i, d in enumerate(ids)]
        for p in poles:
            p.board.start()
        _online(ops, ids)
        release = ota.build_release("lighting", NEW)
        changes: list[tuple[str, str]] = []
        r = _rollout(mosquitto, release, ids,
                     on_change=lambda b: changes.append((b.device_id, b.state)))
        try:
            ok = r.run(canary=1, wave_timeout_s=120)
        finally:
            r.close()
        assert ok, [(b.row(), p.board.output_text()[-1500:])
                    for b, p in zip(r.boards.values(), poles, strict=True) if b.state != "ok"]
        # canary first: the first pole was done before the others were sent anything
        first_ok = changes.index((ids[0], "ok"))
        assert all(changes.index((d, "sent")) > first_ok for d in ids[1:]), changes
        for d, p in zip(ids, poles, strict=True):
            info = [json.loads(m.payload) for m in ops.on(f"/{d}/info")]
            assert info[-1]["fw"] == NEW
            # the rollout's own client heard "ok"; ours may hear it a moment later
            ops.wait_for(lambda ms, d=d: [o["outcome"] for o in _outcomes(ops, d)][-2:]
                         == ["staged", "ok"], 10)
            p.board.wait_output("health check passed", 5)
            # only what differs went over the air: the stamped version, not the whole app
            assert 0 < r.boards[d].fetched < sum(len(v) for v in release.files.values()) / 10
        # the new app lights the street: a pedestrian at the first pole brings it to full
        street.wait_level(poles[0], lambda lv: lv <= 20, 20)
        poles[0].pir.detect()
        street.wait_level(poles[0], lambda lv: lv >= 99, 20)
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



def _writes(b: Board) -> int:
    """Flash block writes the board has made since it booted."""
    b.arm_power_cut_in(None)
    assert b.cut_armed is not None
    return int(b.cut_armed[0])


def _info_fw(ops: Watcher, device_id: str) -> str:
    return str(json.loads(ops.on(f"/{device_id}/info")[-1].payload)["fw"])


def _writes_of_an_update(world: World, mosquitto: Mosquitto, ops: Watcher,
                         release: ota.Release) -> tuple[int, int]:
    """(flash writes from the manifest to the switch, flash writes of the trial boot up to its
    health check) of one update without a cut: the range the cuts are taken from."""
    b = _board(world, mosquitto, "ota-pc")
    b.start()
    _online(ops, ["ota-pc"])
    r = _rollout(mosquitto, release, ["ota-pc"])
    try:
        before = _writes(b)
        m = b.console_mark()
        r.send("ota-pc")
        b.wait_output("staged", 60, start=m)
        staging = _writes(b) - before
        b.wait_output("health check passed", 60, start=m)
        boot = _writes(b)
    finally:
        r.close()
        b.stop()
    return staging, boot


def _update_cut_at(world: World, mosquitto: Mosquitto, ops: Watcher, release: ota.Release,
                   device_id: str, *, staging: int | None = None,
                   boot: int | None = None) -> tuple[bool, str]:
    """Update a fresh board with the power cut before the n-th flash write of staging (or of
    the trial boot); power it again and check it runs an app, old or new, that reaches the
    broker; an old one takes the same update again. (was it cut, the version it ends on)"""
    b = _board(world, mosquitto, device_id)
    b.start()
    _online(ops, [device_id])
    r = _rollout(mosquitto, release, [device_id])
    try:
        m = b.console_mark()
        if boot is not None:
            b.arm_power_cut(boot)
        if staging is not None:
            b.arm_power_cut_in(staging)
        r.send(device_id)
        wait_until(lambda: b.state == "off" or "health check passed" in b.output_since(m), 60,
                   lambda: f"{device_id}: neither cut nor updated: {b.output_since(m)[-800:]}")
        cut = b.state == "off"
        if cut:
            infos = len(ops.on(f"/{device_id}/info"))
            back = b.console_mark()
            b.start()
            b.wait_output("app-ready", 30, start=back)
            ops.wait_for(lambda ms: len(ops.on(f"/{device_id}/info")) > infos, 30)
            if _info_fw(ops, device_id) == NEW:  # confirmed before the cut, or now
                b.wait_output("health check passed", 30, start=m)
            else:  # staging was cut short: the board takes the update again
                r.send(device_id)
                r.wait([device_id], 60)
                assert r.boards[device_id].state == "ok", (r.boards[device_id].row(),
                                                           b.output_since(back)[-1500:])
        ops.wait_for(lambda ms: _info_fw(ops, device_id) == NEW, 30)
        return cut, NEW
    finally:
        r.close()
        b.stop()


def _cut_points(total: int, spread: int, edge: int, tail: bool) -> list[int]:
    """Every write when BOURG_EVERY_WRITE is set (to N > 1: from the N-th write of staging
    on, to finish a long run); else `spread` writes across the range and `edge` at its end
    (staging: the manifest and the boot record) or its start (the trial boot: the loader's
    record)."""
    every = os.environ.get("BOURG_EVERY_WRITE")
    if every:
        return list(range(int(every) if tail else 1, total + 1))
    across = {1 + (total - 1) * k // max(1, spread - 1) for k in range(spread)}
    ends = range(max(1, total - edge + 1), total + 1) if tail else range(1, edge + 1)
    return sorted(across | set(ends))


@pytest.mark.parametrize(("part", "half"), [
    ("staging", None), ("staging end", 0), ("staging end", 1), ("trial boot", 0),
    ("trial boot", 1)], ids=["staging", "staging end 1/2", "staging end 2/2",
                            "trial boot 1/2", "trial boot 2/2"])
def test_a_power_cut_at_any_write_of_an_update_leaves_a_board_that_boots_and_updates(
        world: World, mosquitto: Mosquitto, ops: Watcher, part: str, half: int | None) -> None:
    """A cut while staging leaves the old app running, and the update then succeeds; a cut
    in the trial boot is not the new app's fault: it boots again and confirms its health.
    In parts, so that the workers share them: cuts across staging, at its end (the manifest
    and the boot record), in the trial boot (most at its start: the loader's record); the
    last two in halves, every other cut point each."""
    release = ota.build_release("fieldtest", NEW)
    staging, boot = _writes_of_an_update(world, mosquitto, ops, release)
    assert staging > 50 and boot > 5, (staging, boot)
    in_boot = part == "trial boot"
    if in_boot:
        points = _cut_points(boot, 3, 5, tail=False)
    else:
        end = set(range(max(1, staging - 8 + 1), staging + 1))
        points = [n for n in _cut_points(staging, 4, 8, tail=True)
                  if (n in end) == (part == "staging end")]
    if half is not None:
        points = points[half::2]
    cuts = 0
    for n in points:
        if in_boot:
            cut, _ = _update_cut_at(world, mosquitto, ops, release, f"ota-b{n}", boot=n)
        else:
            cut, _ = _update_cut_at(world, mosquitto, ops, release, f"ota-s{n}", staging=n)
        cuts += cut
    assert cuts >= len(points) - 1, "the cuts missed the update's writes"
