"""`bourg flash`: write the pinned MicroPython image to a board with esptool (the work:
host_tools.field.flash)."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys

from host_tools.build.pinned_image import NAME as PINNED_IMAGE
from host_tools.commands import EXIT_BOARD, EXIT_OK, EXIT_USAGE
from host_tools.commands._args import positive_int
from host_tools.field.flash import (
    BOOTLOADER_HINT,
    ImageError,
    check_image,
    esptool_command,
    find_image,
    flash,
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("image", help="MicroPython firmware .bin (a path or a name in the cache)")
    p.add_argument("--port", help="serial port (default: the only USB-serial board found)")
    p.add_argument("--baud", type=positive_int, default=460800,
                   help="write speed (default %(default)s)")
    p.add_argument("--erase", action="store_true", help="erase the whole flash first (also "
                   "wipes the filesystem, configs and keys on the board)")
    p.add_argument("--dry-run", action="store_true", help="print the esptool command only")
    p.add_argument("--any-version", action="store_true", help="flash a MicroPython other than "
                   "the pinned image (the firmware refuses one older than it)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def _dry_run_port(port: str | None) -> str:
    """The port a dry run names: as given (it need not exist), else the only USB board, else
    PORT. A dry run opens nothing, so it needs no board."""
    from host_tools.field.ports import resolve_port

    if port:
        return port
    try:
        return resolve_port(None)
    except LookupError:
        return "PORT"


def main(args: argparse.Namespace) -> int:
    try:  # checked here too, so that a dry run refuses what flashing would
        image = find_image(args.image)
        info = check_image(image, any_version=args.any_version)
    except (FileNotFoundError, ImageError) as e:
        print(f"bourg flash: {args.image}: {e}", file=sys.stderr)
        return EXIT_USAGE
    if info["micropython"] is None:
        print(f"bourg flash: cannot read the MicroPython version in {image.name}; the board "
              f"will refuse anything older than {PINNED_IMAGE}", file=sys.stderr)
    if args.dry_run:
        print(esptool_command("esp32", _dry_run_port(args.port), args.baud, 0x1000, image,
                              args.erase)
              + "   # chip and offset are detected when flashing for real")
        return EXIT_OK
    try:
        from host_tools.field.ports import resolve_port

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
            result = flash(port, image, baud=args.baud, erase=args.erase,
                           any_version=args.any_version, log=log)
    except ImageError as e:  # the file changed since the check above
        print(f"bourg flash: {args.image}: {e}", file=sys.stderr)
        return EXIT_USAGE
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
