"""`bourg flash IMAGE`: write a MicroPython firmware image to a board with esptool's Python API.

It detects the chip and uses that chip's bootloader offset (0x1000 on the ESP32, 0x0 on the
S3 and C3), erases first when asked, writes compressed and verifies by MD5, and falls back to
115200 baud when the requested rate fails. The equivalent esptool command is logged, so a
technician can repeat or report exactly what was done. Images come from a path or from the
local cache (`~/.cache/bourg/firmware/` or $BOURG_FIRMWARE_CACHE); nothing is downloaded.
An image that is not the pinned MicroPython (host_tools.build.pinned_image) is refused with
ImageError before the port is opened, whoever calls flash().
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable
from pathlib import Path

from host_tools.build import pinned_image
from host_tools.build.pinned_image import ImageError

ROM_BAUD = 115200
BOOTLOADER_HINT = ("a virtual board can be flashed in its bootloader: `bourg emulate "
                   "--bootloader CONFIG` prints the socket:// port to give")


def cache_dir() -> Path:
    return Path(os.environ.get("BOURG_FIRMWARE_CACHE",
                               Path.home() / ".cache" / "bourg" / "firmware"))


def find_image(name: str) -> Path:
    p = Path(name)
    if p.is_file():
        return p
    cached = cache_dir() / name
    if cached.is_file():
        return cached
    have = sorted(x.name for x in cache_dir().glob("*.bin")) if cache_dir().is_dir() else []
    raise FileNotFoundError(
        f"no firmware image {name!r} here or in the cache {cache_dir()}"
        + (f" (cached: {', '.join(have)})" if have else "")
        + ". Put the MicroPython .bin for your board there; nothing is downloaded.")


def check_image(image: Path, *, any_version: bool = False) -> dict[str, str | None]:
    """The image's chip and MicroPython version (None when its banner cannot be read). Raises
    ImageError for a file that is not an ESP32 image, or, unless any_version, not the pinned
    MicroPython: the firmware would refuse to run on an older one, leaving a dead board."""
    return pinned_image.check(image.read_bytes(), any_version=any_version)


def esptool_command(chip: str, port: str, baud: int, offset: int, image: Path,
                    erase: bool) -> str:
    args = ["esptool", "--chip", chip, "--port", port, "--baud", str(baud), "write-flash"]
    if erase:
        args.append("--erase-all")
    args += [hex(offset), str(image)]
    return shlex.join(args)


def _flash_once(port: str, image: Path, baud: int, erase: bool,
                log: Callable[[str], None]) -> dict[str, object]:
    from esptool.cmds import attach_flash, detect_chip, erase_flash, reset_chip, write_flash

    with detect_chip(port, ROM_BAUD) as esp:
        chip = esp.CHIP_NAME.lower().replace("-", "")
        offset = esp.BOOTLOADER_FLASH_OFFSET
        mac = bytes(esp.read_mac()).hex(":")  # the base MAC: machine.unique_id() on the board
        esp = esp.run_stub()
        if baud > ROM_BAUD:
            esp.change_baud(baud)
        cmd = esptool_command(chip, port, baud, offset, image, erase)
        log(f"equivalent: {cmd}")
        attach_flash(esp)
        if erase:
            erase_flash(esp)
        write_flash(esp, [(offset, str(image))])
        reset_chip(esp, "hard-reset")
    return {"chip": chip, "mac": mac, "offset": offset, "baud": baud, "image": str(image),
            "erased": erase, "command": cmd}


def flash(port: str, image: Path, *, baud: int = 460800, erase: bool = False,
          any_version: bool = False, log: Callable[[str], None] = print) -> dict[str, object]:
    """Flash `image`; returns what was done (chip, offset, baud actually used, command).
    Raises ImageError, before the port is opened, for an image check_image() refuses. A
    failure at a raised baud rate is retried once from a fresh connection at 115200."""
    check_image(image, any_version=any_version)
    try:
        return _flash_once(port, image, baud, erase, log)
    except Exception as e:  # noqa: BLE001 - esptool raises many types for a bad line
        if baud <= ROM_BAUD:
            raise
        log(f"{baud} baud failed ({e}); falling back to {ROM_BAUD} baud")
        return _flash_once(port, image, ROM_BAUD, erase, log)


__all__ = ["BOOTLOADER_HINT", "ImageError", "cache_dir", "check_image", "esptool_command",
           "find_image", "flash"]
