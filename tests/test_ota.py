"""Over-the-air updates, the pure parts on CPython: the manifest check the board runs (the
same file), the boot loader's decision across power cuts, the host's release and waves."""

from __future__ import annotations

import hashlib
import importlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from host_tools import cli
from host_tools.build import firmware, fwmodules
from host_tools.field import ota
from host_tools.field.deploy import make_plan
from host_tools.field.registry import Registry, board_update_key

manifest = fwmodules.bourg_module("ota_manifest")
ota_boot = importlib.import_module("ota_boot")  # firmware/lib is on the path (bourg_module)

KEY = board_update_key("00" * 16, "pole-1")
RELEASE = ota.Release("lighting", "0.2.0", {"/pole_app.mpy": b"app", "/lib/bourg/x.mpy": b"x"})


def _payload(release: ota.Release = RELEASE, **kw: str) -> bytes:
    args = {"site": "town", "device_id": "pole-1", "key_hex": KEY, "update_id": "u1"}
    args.update(kw)
    return ota.manifest_payload(release, **args)  # type: ignore[arg-type]


def _check(payload: bytes, running: str = "0.1.0", refused: tuple[str, ...] = ()) -> dict:
    return manifest.check(payload, bytes.fromhex(KEY), "pole-1", "lighting", "town", running,
                          refused)


def test_a_manifest_the_host_signs_is_one_the_board_takes() -> None:
    m = _check(_payload())
    assert m["version"] == "0.2.0" and m["total"] == 4
    assert [f[0] for f in m["files"]] == ["/lib/bourg/x.mpy", "/pole_app.mpy"]
    assert m["files"][1][2] == hashlib.sha256(b"app").hexdigest()


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_any_changed_byte_is_refused(data: st.DataObject) -> None:
    good = bytearray(_payload())
    i = data.draw(st.integers(0, len(good) - 1))
    b = data.draw(st.integers(0, 255).filter(lambda v: v != good[i]))
    good[i] = b
    with pytest.raises(manifest.UpdateRefused):
        _check(bytes(good))


@pytest.mark.parametrize("kw, running, refused, why", [
    ({"device_id": "pole-2"}, "0.1.0", (), "bad tag"),  # signed for pole-2 with pole-1's key?
    ({"site": "elsewhere"}, "0.1.0", (), "site"),
    ({}, "0.2.0", (), "not newer"),
    ({}, "0.10.0", (), "not newer"),
    ({}, "0.1.0", ("0.2.0",), "rolled back here before"),
    ({}, "0.1.0", ("0.02.00", "junk"), "rolled back here before"),  # compared as versions
])
def test_what_a_board_refuses(kw: dict, running: str, refused: tuple, why: str) -> None:
    if kw.get("device_id") == "pole-2":
        payload = _payload(key_hex=board_update_key("00" * 16, "pole-2"))
    else:
        payload = _payload(**kw)
    with pytest.raises(manifest.UpdateRefused, match=why):
        _check(payload, running, refused)


@pytest.mark.parametrize("path", ["/config.json", "/secrets.json", "/main.py", "/boot.py",
                                  "/data/x.py", "/ota/a/x.py", "/lib/../config.py",
                                  "lib/x.py", "/lib/x.txt", "/lib//x.py", "/lib/.x.py"])
def test_paths_an_update_may_not_write(path: str) -> None:
    assert manifest.check_path(path) is not None
    bad = ota.Release("lighting", "0.2.0", {path: b"x"})
    with pytest.raises(manifest.UpdateRefused, match="files"):
        _check(_payload(bad))


@given(st.text(max_size=40))
def test_no_accepted_path_climbs_out_or_touches_the_boards_own_files(path: str) -> None:
    if manifest.check_path(path) is None:
        assert path.startswith("/") and ".." not in path and "/." not in path
        assert path not in manifest.FORBIDDEN and not path.startswith(("/data/", "/ota/"))


def test_versions_compare_as_numbers() -> None:
    assert manifest.parse_version("0.10.0") > manifest.parse_version("0.9.9")
    for bad in ("1.2", "1.2.3.4", "1.2.x", "", "1..2", "-1.2.3", None, "1.2.3 "):
        with pytest.raises(manifest.UpdateRefused):
            manifest.parse_version(bad)


# -- the loader's decision ------------------------------------------------------------------

def test_no_record_or_an_unreadable_one_runs_the_factory_app() -> None:
    assert ota_boot.decide(None, lambda s: True) == ("", None)
    assert ota_boot.decide({}, lambda s: True) == ("", None)


def test_a_trial_gets_one_boot_then_rolls_back_and_remembers_the_version() -> None:
    rec = {"slot": "b", "state": "trial", "tries": 0, "prev": "a", "prev_version": "0.1.0",
           "version": "0.2.0", "bad": []}
    slot, rec1 = ota_boot.decide(rec, lambda s: True)
    assert slot == "b" and rec1["tries"] == 1
    slot, rec2 = ota_boot.decide(rec1, lambda s: True, "WDT_RESET")
    assert slot == "a" and rec2["state"] == "valid" and rec2["rolled_back"] == "0.2.0"
    assert rec2["bad"] == ["0.2.0"] and "WDT_RESET" in rec2["why"]
    assert ota_boot.decide(rec2, lambda s: True) == ("a", None)


def test_a_power_cut_during_a_trial_boot_gives_the_app_another_boot_but_not_forever() -> None:
    rec = {"slot": "b", "state": "trial", "tries": 0, "prev": "a", "prev_version": "0.1.0",
           "version": "0.2.0", "bad": []}
    slots = []
    for _ in range(ota_boot.TRIAL_BOOTS + 1):
        slot, new = ota_boot.decide(rec, lambda s: True, "PWRON_RESET")
        slots.append(slot)
        rec = new or rec
    assert slots == ["b"] * ota_boot.TRIAL_BOOTS + ["a"]
    assert rec["rolled_back"] == "0.2.0" and "PWRON_RESET" in rec["why"]


@given(slot=st.sampled_from(["", "a", "b", "c", 3, None]),
       prev=st.sampled_from(["", "a", "b", "zz"]),
       state=st.sampled_from(["trial", "valid", None, "x"]),
       tries=st.sampled_from([0, 1, 5, "1", None]),
       complete=st.sets(st.sampled_from(["a", "b"])))
def test_the_loader_only_ever_runs_a_complete_app(slot: object, prev: str, state: object,
                                                  tries: object, complete: set) -> None:
    rec = {"slot": slot, "prev": prev, "state": state, "tries": tries, "version": "0.2.0"}
    chosen, new = ota_boot.decide(rec, lambda s: s in complete)
    assert chosen == "" or chosen in complete
    if new is not None:
        assert new["slot"] == chosen
        json.dumps(new)


# -- the host ---------------------------------------------------------------------------------

def test_a_release_is_the_app_without_the_boards_own_files_and_says_its_version() -> None:
    r = ota.build_release("lighting", "9.8.7")
    assert not set(r.files) & set(ota.NOT_APP)
    assert "/pole_app.mpy" in r.files and "/lib/ota_boot.mpy" in r.files
    base = ota.build_release("lighting", "9.8.6")
    differ = sorted(p for p in r.files if r.files[p] != base.files[p])
    assert differ == ["/lib/bourg/__init__.mpy"]
    assert b"9.8.7" in r.files["/lib/bourg/__init__.mpy"]
    with pytest.raises(manifest.UpdateRefused):
        ota.build_release("lighting", "latest")


def test_waves_start_with_the_canary_then_double_and_cover_every_board_once() -> None:
    boards = [f"p{i:02d}" for i in range(12)]
    w = list(ota.waves(boards))
    assert [len(x) for x in w] == [1, 2, 4, 5]
    assert sum(w, []) == boards
    assert [len(x) for x in ota.waves(boards, canary=3)] == [3, 6, 3]


def test_boards_on_wifi_get_their_own_update_key_and_sensors_none(tmp_path) -> None:
    with Registry(tmp_path / "r.sqlite") as reg:
        reg.add("pole-1", "lighting", "town")
        reg.add("pole-2", "lighting", "town")
        reg.add("ps-1", "parking_sensor", "town")
        k1, k2 = reg.secrets("pole-1")["update_key"], reg.secrets("pole-2")["update_key"]
        assert k1 != k2 and len(k1) == 64
        assert k1 == board_update_key(reg.site_key("town", "update"), "pole-1")
        assert "update_key" not in reg.secrets("ps-1")


def test_a_cable_deploy_removes_the_update_slots_and_the_boot_record() -> None:
    staged = firmware.stage({"role": "fieldtest"}, None, compiled=False)
    on_board = {"/ota/boot.json": "x", "/ota/a/fieldtest_app.mpy": "y",
                "/ota/a/manifest.json": "z"}
    plan = make_plan({p: firmware.content(v) for p, v in staged.items()}, on_board)
    assert set(on_board) <= set(plan.remove)
    # the record, then the manifests: a cut among the removals never leaves a slot that the
    # loader takes for whole with files already gone
    assert plan.remove[:2] == ["/ota/boot.json", "/ota/a/manifest.json"]


def test_a_soft_reboot_during_a_trial_is_no_fault_of_the_app() -> None:
    rec = {"slot": "a", "state": "trial", "tries": 1, "prev": "", "version": "0.2.0"}
    assert ota_boot.decide(rec, lambda s: True, "SOFT_RESET")[0] == "a"
    assert ota_boot.decide(rec, lambda s: True, "HARD_RESET")[0] == ""


def test_a_slot_takes_whole_blocks_on_flash() -> None:
    upd = fwmodules.bourg_module("ota_update")
    files = [["/a.mpy", 1, "x"], ["/lib/b.mpy", 4097, "x"], ["/lib/c.mpy", 4096, "x"]]
    assert upd.flash_needed(files) == 4096 * (1 + 2 + 1) + 4096 * 3  # files, 2 folders + 1


class _Rt:
    """What Updater.on_update uses of the runtime: the config, the log, the link's events."""

    def __init__(self, key_hex: str) -> None:
        self.events: list[tuple[str, dict]] = []
        self.logged: list[str] = []
        self.cfg = type("Cfg", (), {"device_id": "pole-1", "role": "lighting", "site": "town",
                                    "secrets": {"update_key": key_hex}})()
        self.log = type("Log", (), {
            "warn": lambda _s, tag, msg: self.logged.append(msg),
            "error": lambda _s, tag, msg: self.logged.append(msg),
            "info": lambda _s, tag, msg: self.logged.append(msg)})()
        self.link = type("Link", (), {
            "publish_event": lambda _s, name, data: self.events.append((name, data))})()


def test_a_flash_error_clearing_the_slot_is_reported_and_leaves_the_board_free(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The stale slot is emptied before the room check; a flash that refuses is a failed
    update, said over MQTT, and the board stays ready for the next one."""
    upd = fwmodules.bourg_module("ota_update")
    key = "ab" * 32
    release = ota.Release("lighting", "9.0.0", {"/pole_app.mpy": b"x" * 10})
    msg = ota.manifest_payload(release, site="town", device_id="pole-1", key_hex=key,
                               update_id="u1")

    def refuse(_d: str) -> None:
        raise OSError(5, "EIO")

    monkeypatch.setattr(upd, "remove_tree", refuse)
    monkeypatch.setattr(upd, "read_history", lambda: {})
    monkeypatch.setattr(upd.ota_boot, "read", lambda: None)
    rt = _Rt(key)
    u = upd.Updater(rt)
    u.on_update("cmd/update", msg)
    assert rt.events == [("update", {"outcome": "failed", "error": "flash: [Errno 5] EIO"})]
    assert u.busy is None


# -- the command ------------------------------------------------------------------------------

def _town(tmp_path) -> str:
    path = tmp_path / "r.sqlite"
    with Registry(path) as reg:
        for d in ("pole-1", "pole-2", "pole-3"):
            reg.add(d, "lighting", "town")
        reg.add("locker-1", "locker", "town")
    return str(path)


def test_update_dry_run_builds_the_release_and_prints_the_waves(tmp_path, capsys) -> None:
    reg = _town(tmp_path)
    assert cli.main(["update", "--site", "town", "--role", "lighting", "--version", "9.0.0",
                     "--registry", reg, "--dry-run"]) == 0
    err = capsys.readouterr().err
    assert "release lighting 9.0.0:" in err
    assert "3 boards in 2 waves: pole-1 | pole-2, pole-3" in err
    assert cli.main(["update", "--site", "town", "--role", "lighting", "--version", "9.0.0",
                     "--registry", reg, "--dry-run", "--device", "pole-3"]) == 0
    assert "1 boards in 1 waves: pole-3" in capsys.readouterr().err


@pytest.mark.parametrize("extra, code, said", [
    (["--version", "latest"], 2, "--version latest"),
    (["--version", "9.0.0", "--health-minutes", "0.1"], 2, "--health-minutes is 0.5 to 60"),
    (["--version", "9.0.0", "--canary", "0"], 2, "--canary at least 1"),
    (["--version", "9.0.0", "--device", "locker-1"], 2, "not lighting boards of site town"),
    (["--version", "9.0.0", "--site", "elsewhere"], 2, "no lighting board of site elsewhere"),
    pytest.param(["--version", "9.0.0", "--broker", "mqtt://127.0.0.1:1"], 3,
                 "mqtt://127.0.0.1:1", marks=pytest.mark.slow),  # waits for the broker
])
def test_update_refuses_bad_arguments_and_an_unreachable_broker_in_one_line(
        tmp_path, capsys, extra: list[str], code: int, said: str) -> None:
    reg = _town(tmp_path)
    argv = ["update", "--site", "town", "--role", "lighting", "--registry", reg, *extra]
    if "--broker" not in extra:
        argv.append("--dry-run")
    assert cli.main(argv) == code
    err = capsys.readouterr().err
    assert said in err and "Traceback" not in err and len(err.strip().splitlines()) <= 2
