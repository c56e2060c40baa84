"""`bourg flash IMAGE`: write a MicroPython firmware image to a board with esptool's Python API.

It detects the chip and uses that chip's bootloader offset (0x1000 on the ESP32, 0x0 on the
S3 and C3), erases first when asked, writes compressed and verifies by MD5, and falls back to
115200 baud when the requested rate fails. The equivalent esptool command is logged, so a
technician can repeat or report exactly what was done. Images come from a path or from the
local cache (`~/.cache/bourg/firmware/` or $BOURG_FIRMWARE_CACHE); nothing is downloaded.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

ROM_BAUD = 115200
BOOTLOADER_HINT = ("a virtual board can be flashed in its bootloader: `bourg emulate "
                   "--bootloader CONFIG` prints the socket:// port to give")
EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_BOARD = 0, 1, 2, 3


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
          log: Callable[[str], None] = print) -> dict[str, object]:
    """Flash `image`; returns what was done (chip, offset, baud actually used, command).
    A failure at a raised baud rate is retried once from a fresh connection at 115200."""
    try:
        return _flash_once(port, image, baud, erase, log)
    except Exception as e:  # noqa: BLE001 - esptool raises many types for a bad line
        if baud <= ROM_BAUD:
            raise
        log(f"{baud} baud failed ({e}); falling back to {ROM_BAUD} baud")
        return _flash_once(port, image, ROM_BAUD, erase, log)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("image", help="MicroPython firmware .bin (a path or a name in the cache)")
    p.add_argument("--port", help="serial port (default: the only USB-serial board found)")
    p.add_argument("--baud", type=int, default=460800, help="write speed (default %(default)s)")
    p.add_argument("--erase", action="store_true", help="erase the whole flash first (also "
                   "wipes the filesystem, configs and keys on the board)")
    p.add_argument("--dry-run", action="store_true", help="print the esptool command only")
    p.add_argument("--any-version", action="store_true", help="flash a MicroPython other than "
                   "the pinned image (the firmware refuses one older than it)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def _dry_run_port(port: str | None) -> str:
    """The port a dry run names: as given (it need not exist), else the only USB board, else
    PORT. A dry run opens nothing, so it needs no board."""
    from .ports import resolve_port

    if port:
        return port
    try:
        return resolve_port(None)
    except LookupError:
        return "PORT"


def flash_main(args: argparse.Namespace) -> int:
    from . import pinned_image

    try:
        image = find_image(args.image)
        info = pinned_image.check(image.read_bytes(), any_version=args.any_version)
    except (FileNotFoundError, pinned_image.ImageError) as e:
        print(f"bourg flash: {args.image}: {e}", file=sys.stderr)
        return EXIT_USAGE
    if info["micropython"] is None:
        print(f"bourg flash: cannot read the MicroPython version in {image.name}; the board "
              f"will refuse anything older than {pinned_image.NAME}", file=sys.stderr)
    if args.dry_run:
        print(esptool_command("esp32", _dry_run_port(args.port), args.baud, 0x1000, image,
                              args.erase)
              + "   # chip and offset are detected when flashing for real")
        return EXIT_OK
    try:
        from .ports import resolve_port

        port = args.port if args.port and "://" in args.port else \
            resolve_port(args.port, virtual=BOOTLOADER_HINT)
    except LookupError as e:
        print(f"bourg flash: {e}", file=sys.stderr)
        return EXIT_USAGE

    def log(msg: str) -> None:
        print(msg, file=sys.stderr)

    try:
        # esptool prints its progress on stdout: keep stdout for our result (--json).
        with contextlib.redirect_stdout(sys.stderr):
            result = flash(port, image, baud=args.baud, erase=args.erase, log=log)
    except Exception as e:  # noqa: BLE001 - esptool raises many types; all mean "board error"
        pty = (f"\n  {port} is a pseudo-terminal: a virtual board's pty runs MicroPython, "
               f"not the bootloader; {BOOTLOADER_HINT}." if port.startswith("/dev/pts/") else "")
        print(f"bourg flash: flashing {image.name} on {port} failed: {e}\n"
              "  Hold BOOT while pressing EN to enter the bootloader, check the cable, then "
              f"try again (a lower --baud helps on long cables).{pty}", file=sys.stderr)
        return EXIT_BOARD
    if args.json:
        print(json.dumps(result))
    else:
        print(f"flashed {image.name} to the {result['chip']} (MAC {result['mac']}) on {port} at "
              f"{result['offset']:#x} ({result['baud']} baud), verified")
    return EXIT_OK
