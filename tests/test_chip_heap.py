"""The chip-heap estimate (host_tools.bench.chip_heap): the arithmetic, and the board's report."""

from __future__ import annotations

from pathlib import Path

import pytest

from host_tools.bench import chip_heap
from host_tools.emulator import World


def _report(used: int, modules: list[list], names: int = 0, pools: int = 0) -> dict:
    return {"used": used, "free": 0, "modules": modules, "imports": {},
            "qstr": [[names, pools]]}


_NO_EMULATOR = chip_heap.EmulatorShare(0, 0, {}, {})


def test_bytecode_keeps_its_size_and_objects_halve() -> None:
    rep = _report(100_000, [["app", "app.mpy", 10_000], ["bourg.x", "/lib/bourg/x.mpy", 6_000],
                            ["machine", "/sim/machine.mpy", 8_000], ["asyncio", "", 0]])
    h = chip_heap.estimate(rep, 20_000, _NO_EMULATOR)
    assert h.vm_bytes == 80_000 and h.mpy_bytes == 16_000
    assert h.chip_bytes == 16_000 + (80_000 - 16_000) // 2


def test_emulator_modules_imported_late_are_taken_out() -> None:
    emu = chip_heap.EmulatorShare(0, 0, {"espnow": 7_000}, {"espnow": 40})
    mods = [["app", "app.mpy", 1_000], ["espnow", "/sim/espnow.mpy", 3_000]]
    without = chip_heap.estimate(_report(50_000, mods[:1], names=100), 10_000, emu)
    with_radio = chip_heap.estimate(_report(57_000, mods, names=140), 10_000, emu)
    assert with_radio == without


def test_the_vm_qstr_pools_are_replaced_by_the_chip_s_for_the_app_s_names() -> None:
    """A pool the VM doubled because of the emulator's names costs the estimate nothing; the
    chip's pools are counted for the names that are the app's."""
    emu = chip_heap.EmulatorShare(boot_names=500, boot_pool_bytes=9_000, late_cost={},
                                  late_names={})
    mods = [["app", "app.mpy", 10_000]]
    small = chip_heap.estimate(_report(60_000, mods, names=800, pools=9_000), 20_000, emu)
    doubled = chip_heap.estimate(_report(78_000, mods, names=800, pools=27_000), 20_000, emu)
    assert small == doubled
    assert small.qstr_names == 300
    assert small.qstr_pool_bytes == chip_heap.chip_qstr_pool_bytes(300)
    # 60 000 used, less 9 000 of pools and the boot's 11 000 without its pools, less 10 000 mpy
    assert small.chip_bytes == 10_000 + 30_000 // 2 + small.qstr_pool_bytes


def test_an_import_that_doubled_a_pool_is_charged_its_objects_only() -> None:
    """The probe's report: names 500 -> 560 -> 700 and pools 9 000 -> 9 000 -> 18 000
    across two imports, the second of which doubled a pool."""
    rep = {"imports": {"espnow": 4_000, "network": 12_000},
           "qstr": [[500, 9_000], [560, 9_000], [700, 18_000]]}
    emu = chip_heap.share_from_report(rep, ("espnow", "network"))
    assert (emu.boot_names, emu.boot_pool_bytes) == (500, 9_000)
    assert emu.late_cost == {"espnow": 4_000, "network": 3_000}
    assert emu.late_names == {"espnow": 60, "network": 140}


def test_the_chip_s_pools_double_from_twenty_entries_of_seven_bytes() -> None:
    """py/qstr.c on the ESP32: 24-byte header, 7 bytes an entry, 16-byte GC blocks."""
    assert chip_heap.chip_qstr_pool_bytes(0) == 0
    assert chip_heap.chip_qstr_pool_bytes(1) == 176  # 24 + 20 * 7 = 164, in 11 blocks
    assert chip_heap.chip_qstr_pool_bytes(20) == 176
    assert chip_heap.chip_qstr_pool_bytes(21) == 176 + 304  # 24 + 40 * 7 = 304
    # 1 000 names fill 20+40+...+640 = 1 260 entries, in six pools
    assert chip_heap.chip_qstr_pool_bytes(1_000) == sum(
        -(-(24 + 7 * a) // 16) * 16 for a in (20, 40, 80, 160, 320, 640))


def test_a_board_reports_its_modules_and_import_costs(tmp_path: Path) -> None:
    cfg = {"schema": 1, "device_id": "probe", "role": "fieldtest", "site": "t",
           "board": "esp32-devkitc", "pins": {}, "network": {}, "app": {}}
    with World(tmp_path) as w:
        b = w.add_board(cfg, {"main.py": chip_heap._IDLE_MAIN,
                              "lib/ballast.py": "BALLAST = [bytearray(100) for _ in range(50)]\n"})
        b.start()
        b.wait_boot()
        rep = b.heap_report(("ballast", "neopixel"))
        files = {name: (path, size) for name, path, size in rep["modules"]}
        assert files["ballast"] == ("/lib/ballast.py", len(
            "BALLAST = [bytearray(100) for _ in range(50)]\n"))
        assert files["neopixel"][0].startswith(chip_heap.OVERLAY_DIR)
        assert files["asyncio"] == ("", 0)  # frozen, here as on the chip
        assert rep["imports"]["ballast"] >= 50 * 100  # 50 buffers of 100 bytes at least
        with pytest.raises(ValueError, match="no_such_module"):
            b.heap_report(("no_such_module",))  # the question's fault: said, app unharmed
        again = b.heap_report(("ballast",))
        assert again["imports"]["ballast"] < 1_000  # already imported: nothing new
        assert rep["used"] > 0 and rep["free"] > 0
        # the names table before each import and at the end: growing, never shrinking
        names = [n for n, _ in rep["qstr"]]
        assert len(names) == 3 and names == sorted(names) and names[1] > names[0]


def test_a_booted_board_has_dropped_the_config_checker_and_its_schema(tmp_path: Path) -> None:
    """bourg.config imports the checker and the app's schema module for the boot check, then
    forgets them: their bytecode is a tenth of a role's heap on the chip."""
    from host_tools.build import firmware

    cfg = {"schema": 1, "device_id": "probe", "role": "fieldtest", "site": "t",
           "board": "esp32-devkitc", "pins": {},
           "network": {"ssid": "none", "mqtt": {"host": "broker.invalid", "tls": False}},
           "app": {}}
    with World(tmp_path) as w:
        b = w.add_board(cfg, firmware.stage(cfg, {"wifi_password": "x"}))
        b.start()
        b.wait_output("app-ready", 30)
        loaded = {name for name, _, _ in b.heap_report(timeout=20)["modules"]}
        assert "fieldtest_app" in loaded and "bourg.config" in loaded
        assert not loaded & {"bourg.configcheck", "bourg.configload", "bourg.boot",
                               "fieldtest_schema"}, loaded


@pytest.mark.slow
def test_a_lit_pole_keeps_no_module_it_uses_only_at_boot_or_at_dusk(tmp_path: Path) -> None:
    """A pole checks its night profile (profilecheck) and computes tonight's sun (sun) once,
    and reads the GPIO rules (bourg.pins) only in a config check or in safe mode: none of
    them stays loaded once the lamp is at its night level. Each is 2-3 KB on the chip. The
    DS3231's driver stays only on a pole that has one (it sets the chip from NTP later)."""
    from host_tools.testing.rigs.street import add_pole, pole_config, street_world, wait_level

    with street_world(tmp_path) as w:
        poles = [add_pole(w, pole_config("pole-heap", 0.0)),
                 add_pole(w, pole_config("pole-rtc", 30.0), rtc=True)]
        for p in poles:
            p.board.start()
        for p in poles:
            wait_level(p, lambda v: v == 10, 30)  # the profile's night base: sun was used
        loaded, with_rtc = ({name for name, _, _ in p.board.heap_report(timeout=20)["modules"]}
                            for p in poles)
    assert "pole_app" in loaded and "schedule" in loaded and "nightprofile" in loaded
    assert not loaded & {"profilecheck", "sun", "bourg.pins", "bourg.configcheck",
                         "bourg.configload", "bourg.boot", "pole_schema",
                         "drivers.ds3231"}, loaded
    assert "drivers.ds3231" in with_rtc, with_rtc


def test_a_results_file_says_which_commit_it_measured() -> None:
    """`make bench` heads its results with the source revision (a clone here, as in CI)."""
    import re

    from host_tools.bench.run import source_revision

    rev = source_revision()
    if rev == "unknown" and not (Path(__file__).parents[1] / ".git").exists():
        pytest.skip("not a git checkout: nothing to name")
    assert re.fullmatch(r"[0-9a-f]{7,}(\+dirty)?", rev)
