"""esp32.Partition on a virtual board, as MicroPython v1.28.0 and its ESP-IDF run it: the
pinned image (one factory app) has no slot to update MicroPython into; the ESP32_GENERIC-OTA
table stages an image in the other slot, boots it once on trial, and rolls back at the next
reset unless the new firmware called mark_app_valid_cancel_rollback()."""

from __future__ import annotations

import pytest

from host_tools.emulator import Board, World
from host_tools.field.serialboard import SerialBoard, TransportExecError
from host_tools.testing.app_image import esp32_app_image

pytestmark = pytest.mark.emulator_only

STAGE = """
from esp32 import Partition as P
def stage(image):
    n = P(P.RUNNING).get_next_update()
    buf = bytearray(b'\\xff' * 4096)
    buf[:len(image)] = image
    n.writeblocks(0, buf)
    n.set_boot()
    return n.info()[4]
"""


def _board(world: World, name: str, partitions: str) -> Board:
    b = world.add_board({"device_id": name, "site": "hil"}, {"main.py": "print('up')\n"},
                        partitions=partitions)
    b.start()
    b.wait_output("up", 10)
    return b


def _run(b: Board, code: str) -> str:
    sb = SerialBoard(b.pty_path)
    try:
        return sb.exec(code).strip()
    finally:
        sb.close()


def _running(b: Board) -> str:
    return _run(b, "from esp32 import Partition as P\nprint(P(P.RUNNING).info()[4])")


def _reset(b: Board) -> None:
    mark = b.console_mark()
    b.hard_reset()
    b.wait_output("up", 10, start=mark)


def test_the_pinned_image_has_no_slot_for_a_new_micropython(world: World) -> None:
    b = _board(world, "part-f", "factory")
    assert _run(b, "from esp32 import Partition as P\nr = P(P.RUNNING)\nprint(r.info())\n"
                   "print([p.info()[4] for p in P.find(P.TYPE_DATA)])") == (
        "(0, 0, 65536, 2031616, 'factory', False)\n['nvs', 'phy_init', 'vfs']")
    # the filesystem is the vfs partition, as flashbdev.py finds it on the chip
    assert _run(b, "from esp32 import Partition as P\nv = P.find(P.TYPE_DATA, label='vfs')[0]\n"
                   "buf = bytearray(4096)\nv.readblocks(0, buf)\n"
                   "print(v.info()[2:4], v.ioctl(4, 0), b'littlefs' in buf)") == (
        "(2097152, 2097152) 512 True")
    with pytest.raises(TransportExecError, match=r"OSError: \[Errno 2\] ENOENT"):
        _run(b, "from esp32 import Partition as P\nP(P.RUNNING).get_next_update()")
    with pytest.raises(TransportExecError, match="-261.*ESP_ERR_NOT_FOUND"):
        _run(b, "from esp32 import Partition as P\nP.mark_app_valid_cancel_rollback()")
    with pytest.raises(TransportExecError, match=r"OSError: \[Errno 2\] ENOENT"):
        _run(b, "from esp32 import Partition as P\nP(P.BOOT)")  # no otadata


def test_an_ota_image_boots_once_on_trial_and_rolls_back_unless_confirmed(
        world: World) -> None:
    b = _board(world, "part-o", "ota")
    assert _running(b) == "ota_0"
    image = esp32_app_image()
    assert _run(b, STAGE + f"print(stage({image!r}))") == "ota_1"
    assert _run(b, "print(P(P.BOOT).info()[4])") == "ota_1"
    _reset(b)
    assert _running(b) == "ota_1"  # the trial boot
    _reset(b)  # not confirmed: the bootloader goes back
    assert _running(b) == "ota_0"
    assert "ABORTED (rollback)" in b.output_text()
    # staged again, and confirmed this time: it stays
    assert _run(b, STAGE + f"print(stage({image!r}))") == "ota_1"
    _reset(b)
    _run(b, "from esp32 import Partition as P\nP.mark_app_valid_cancel_rollback()")
    _reset(b)
    assert _running(b) == "ota_1"
    # an image that does not load is refused before it can be booted
    broken = bytearray(image)
    broken[60] ^= 1
    with pytest.raises(TransportExecError, match="-5379.*ESP_ERR_OTA_VALIDATE_FAILED"):
        _run(b, STAGE + f"stage({bytes(broken)!r})")
    assert _run(b, "print(P(P.BOOT).info()[4])") == "ota_1"


def test_a_power_cut_while_the_image_is_written_boots_the_old_one(world: World) -> None:
    b = _board(world, "part-c", "ota")
    b.arm_power_cut(2)  # after the next boot, which writes nothing: the erase is the
    _reset(b)           # first write, the image the second
    sb = SerialBoard(b.pty_path)
    try:
        with pytest.raises(Exception):  # noqa: B017 - the board dies mid-call
            sb.exec(STAGE + f"stage({esp32_app_image()!r})", timeout=10)
    finally:
        sb.close()
    assert b.state == "off"
    mark = b.console_mark()
    b.start()
    b.wait_output("up", 10, start=mark)
    assert _running(b) == "ota_0"
