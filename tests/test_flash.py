"""`bourg flash` through esptool's real Python API, with only the serial boundary simulated
(host_tools/emulator/esprom.py); a real ESP32 ROM cannot run here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from host_tools.emulator.esprom import SimulatedEsp32Rom


def _image(banner: bytes = b"MicroPython v1.28.0 on 2026-04-06; Generic ESP32 module with ESP32",
           chip_id: int = 0) -> bytes:
    """An ESP-IDF image header (magic, segments, SPI mode and size, entry, extended header with
    the chip id) and a body carrying MicroPython's banner, as a release .bin has."""
    header = (bytes([0xE9, 0x03, 0x02, 0x20]) + bytes(4) + bytes(4)
              + chip_id.to_bytes(2, "little") + bytes(10))
    return header + bytes(range(256)) * 150 + banner + bytes(range(256)) * 150


IMAGE = _image()


@pytest.fixture
def image(tmp_path: Path) -> Path:
    p = tmp_path / "ESP32_GENERIC-test.bin"
    p.write_bytes(IMAGE)
    return p


def _flash(*args: str, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "host_tools.cli", "flash", *args],
                          capture_output=True, text=True, timeout=120, env=env)


def test_flash_writes_at_the_chip_offset_and_verifies(image: Path) -> None:
    with SimulatedEsp32Rom() as rom:
        rom.flash[0x300000:0x300004] = b"keep"
        r = _flash(str(image), "--port", rom.url, "--json")
        assert r.returncode == 0, r.stderr
        result = json.loads(r.stdout)
        assert result["chip"] == "esp32" and result["offset"] == 0x1000
        assert bytes(rom.flash[0x1000:0x1000 + len(IMAGE)]) == IMAGE
        assert rom.flash[0x300000:0x300004] == b"keep"  # no erase unless asked
        assert "0x13" in rom.commands  # MD5 verification happened
        assert (f"equivalent: esptool --chip esp32 --port {rom.url} --baud 460800 write-flash "
                f"0x1000 {image}") in r.stderr


def test_erase_and_baud_fallback(image: Path) -> None:
    with SimulatedEsp32Rom(max_baud=115200) as rom:
        rom.flash[0x300000:0x300004] = b"gone"
        r = _flash(str(image), "--port", rom.url, "--erase", "--json")
        assert r.returncode == 0, r.stderr
        assert "460800 baud failed" in r.stderr and "falling back to 115200" in r.stderr
        assert json.loads(r.stdout)["baud"] == 115200
        assert rom.flash[0x300000:0x300004] == b"\xff" * 4
        assert bytes(rom.flash[0x1000:0x1000 + len(IMAGE)]) == IMAGE


def test_board_that_goes_silent_fails_clearly(image: Path) -> None:
    with SimulatedEsp32Rom() as rom:
        rom.drop_after = 40
        r = _flash(str(image), "--port", rom.url)
        assert r.returncode == 3
        assert "failed" in r.stderr and "BOOT" in r.stderr


def test_what_is_not_the_pinned_image_is_refused_before_the_port_is_opened(
        tmp_path: Path) -> None:
    cases = {
        "README.md": (b"# bourg\n" * 10, "not an ESP32 firmware image"),
        "s3.bin": (_image(chip_id=9), "for esp32s3"),
        "old.bin": (_image(b"MicroPython v1.24.1 on 2024-11-29; Generic ESP32 module"),
                    "MicroPython v1.24.1"),
    }
    for name, (data, why) in cases.items():
        (tmp_path / name).write_bytes(data)
        r = _flash(str(tmp_path / name), "--port", "socket://127.0.0.1:9")
        assert r.returncode == 2 and why in r.stderr, (name, r.stderr)
        assert "Traceback" not in r.stderr
    r = _flash(str(tmp_path / "old.bin"), "--port", "socket://127.0.0.1:9", "--dry-run",
               "--any-version")
    assert r.returncode == 0, r.stderr


def test_flash_itself_refuses_what_is_not_the_pinned_image(tmp_path: Path) -> None:
    """Any caller of field.flash.flash() is protected, not only the command: the refusal
    comes before the port is opened (nothing listens on this one)."""
    from host_tools.field.flash import ImageError, flash

    old = tmp_path / "old.bin"
    old.write_bytes(_image(b"MicroPython v1.24.1 on 2024-11-29; Generic ESP32 module"))
    with pytest.raises(ImageError, match="MicroPython v1.24.1"):
        flash("socket://127.0.0.1:9", old, log=lambda msg: None)


def test_image_from_cache_and_missing_image(tmp_path: Path, image: Path) -> None:
    import os

    env = dict(os.environ, BOURG_FIRMWARE_CACHE=str(tmp_path))
    r = _flash("nope.bin", "--port", "socket://127.0.0.1:9", env=env)
    assert r.returncode == 2 and "nothing is downloaded" in r.stderr
    assert image.name in r.stderr  # lists what the cache holds
    r = _flash(image.name, "--port", "socket://127.0.0.1:9", "--dry-run", env=env)
    assert r.returncode == 0 and "write-flash 0x1000" in r.stdout


def test_the_docs_name_the_pinned_image() -> None:
    from host_tools.build import pinned_image

    root = Path(__file__).resolve().parents[1]
    assert pinned_image.NAME == "ESP32_GENERIC v1.28.0"
    assert f"bourg flash {pinned_image.FILE}" in (root / "docs" / "field-tools.md").read_text()
    assert pinned_image.FILE in (root / "docs" / "runtime.md").read_text()
    assert f"bourg flash {pinned_image.FILE}" in (root / "README.md").read_text()


def test_dry_run_needs_no_board(image: Path) -> None:
    """A dry run opens nothing: no port, or one that does not exist, is fine."""
    r = _flash(str(image), "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "write-flash 0x1000" in r.stdout
    r = _flash(str(image), "--dry-run", "--port", "/dev/ttyUSB9")
    assert r.returncode == 0, r.stderr
    assert "--port /dev/ttyUSB9" in r.stdout


def test_without_a_board_flash_points_at_the_virtual_bootloader_not_a_pty(image: Path) -> None:
    """A virtual board's pty runs MicroPython, not the ROM bootloader: flash's advice names
    `bourg emulate --bootloader` and its socket:// port instead."""
    from host_tools.field.ports import usb_ports

    if usb_ports():
        pytest.skip("a USB board is plugged in")
    r = _flash(str(image))
    assert r.returncode == 2, r.stderr
    assert "bourg emulate --bootloader" in r.stderr and "socket://" in r.stderr
    assert "pty" not in r.stderr


def test_the_readme_says_where_its_shared_examples_come_from() -> None:
    """`../shared` is not in the repository: a clone has it only if it is put beside it, and
    the README must say so where it uses it; each path it names is there when it is."""
    import re

    root = Path(__file__).resolve().parents[1]
    text = (root / "README.md").read_text()
    paths = set(re.findall(r"\.\./shared/[\w./-]+", text))
    assert paths
    assert "kept beside the repository, not in it" in text
    if (root.parent / "shared").is_dir():
        for p in paths:
            assert (root / p).exists(), p
