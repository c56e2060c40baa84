"""The virtual chip's partitions, OTA data and bootloader (host_tools/emulator/partitions.py),
against what ESP-IDF does for MicroPython v1.28.0: the pinned image has no OTA slot; the -OTA
variant boots a new app once on trial and rolls back unless it marks itself valid."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from host_tools.emulator import partitions as P
from host_tools.testing.app_image import esp32_app_image

GOOD = esp32_app_image()


def _flash(chip: P.ChipPartitions, label: str, image: bytes) -> None:
    size = (len(image) + P.SECTOR - 1) // P.SECTOR * P.SECTOR
    chip.erase(label, 0, size)
    chip.write(label, 0, image)


def test_the_pinned_image_has_one_factory_app_and_no_ota_slot(tmp_path: Path) -> None:
    chip = P.ChipPartitions(tmp_path, "factory")
    assert [p.label for p in chip.parts] == ["nvs", "phy_init", "factory", "vfs"]
    assert chip.part("vfs").offset == 0x200000 and chip.part("vfs").size == 0x200000
    assert chip.boot() == [] and chip.running == "factory"
    assert chip.next_update("factory") is None
    assert chip.boot_partition() is None  # no otadata: Partition(Partition.BOOT) is ENOENT
    assert chip.mark_valid() == P.ESP_ERR_NOT_FOUND
    assert chip.set_boot("factory") == P.ESP_ERR_NOT_FOUND  # validates, then finds no otadata


def test_a_new_app_gets_one_trial_boot_and_rolls_back_unless_marked_valid(
        tmp_path: Path) -> None:
    chip = P.ChipPartitions(tmp_path, "ota")
    assert P.vfs_size("ota") == 960 * 1024
    chip.boot()
    assert chip.running == "ota_0"
    nxt = chip.next_update(chip.running)
    assert nxt is not None and nxt.label == "ota_1"
    _flash(chip, "ota_1", GOOD)
    assert chip.set_boot("ota_1") == 0
    assert chip.boot_partition().label == "ota_1"
    chip.boot()
    assert chip.running == "ota_1"  # on trial: PENDING_VERIFY
    log = chip.boot()  # reset without mark_app_valid_cancel_rollback
    assert chip.running == "ota_0" and any("ABORTED" in line for line in log)
    assert chip.boot_partition().label == "ota_0"
    # again, and this time the app confirms itself
    assert chip.set_boot("ota_1") == 0
    chip.boot()
    assert chip.mark_valid() == 0
    chip.boot()
    chip.boot()
    assert chip.running == "ota_1"
    nxt = chip.next_update("ota_1")
    assert nxt is not None and nxt.label == "ota_0"  # the slots alternate


def test_set_boot_refuses_an_image_that_does_not_load(tmp_path: Path) -> None:
    chip = P.ChipPartitions(tmp_path, "ota")
    chip.boot()
    bad = bytearray(GOOD)
    bad[60] ^= 0x01
    _flash(chip, "ota_1", bytes(bad))
    before = chip.read_otadata()
    assert chip.set_boot("ota_1") == P.ESP_ERR_OTA_VALIDATE_FAILED
    assert chip.read_otadata() == before
    assert chip.set_boot("ota_0") == 0  # never written: the image esptool flashed


def test_an_image_the_virtual_board_cannot_run_stands_for_a_crash_and_rolls_back(
        tmp_path: Path) -> None:
    chip = P.ChipPartitions(tmp_path, "ota")
    chip.boot()
    _flash(chip, "ota_1", esp32_app_image("v1.27.0"))
    assert chip.set_boot("ota_1") == 0  # a valid image: IDF takes it
    log = chip.boot()
    assert chip.running == "ota_0" and any("rolled back" in line for line in log)
    assert chip.boot_partition().label == "ota_0"


def test_an_image_for_another_chip_does_not_validate(tmp_path: Path) -> None:
    chip = P.ChipPartitions(tmp_path, "ota")
    chip.boot()
    other = bytearray(GOOD)
    other[12] = 0x09  # chip id: ESP32-S3 (the SHA-256 then differs too)
    assert P.image_problem(bytes(other)) is not None
    from esptool.bin_image import ELFSection, ESP32S3FirmwareImage

    img = ESP32S3FirmwareImage()
    img.entrypoint = 0x40080000
    img.segments = [ELFSection(b".iram0.text", 0x40080000, b"\0" * 256, 0)]
    s3 = img.save(None)
    assert s3 is not None and "another chip" in str(P.image_problem(s3))


def test_writes_only_clear_bits_until_an_erase(tmp_path: Path) -> None:
    chip = P.ChipPartitions(tmp_path, "ota")
    chip.erase("ota_1", 0, P.SECTOR)
    chip.write("ota_1", 0, b"\x0f")
    chip.write("ota_1", 0, b"\xf1")
    assert chip.read("ota_1", 0, 2) == b"\x01\xff"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["good", "bad", "old", "boot", "valid"]), max_size=14))
def test_the_board_always_runs_an_app_that_loads(tmp_path_factory, ops: list[str]) -> None:
    chip = P.ChipPartitions(tmp_path_factory.mktemp("chip"), "ota")
    chip.boot()
    images = {"good": GOOD, "old": esp32_app_image("v1.27.0"), "bad": GOOD[:100]}
    for op in ops:
        if op in images:
            nxt = chip.next_update(chip.running)
            assert nxt is not None
            _flash(chip, nxt.label, images[op])
            chip.set_boot(nxt.label)
        elif op == "boot":
            chip.boot()
        else:
            chip.mark_valid()
        assert chip._problem(chip.part(chip.running))[0] is None
