"""The one MicroPython image bourg targets, and how to tell whether a .bin file is it.

The constant lives in the firmware (`firmware/lib/bourg/__init__.py`: IMAGE_BOARD,
IMAGE_VERSION), which checks it at boot; the host reads that file rather than repeating it, so
`bourg flash`, the docs' tests and the board cannot disagree.
"""

from __future__ import annotations

import re
import runpy
from pathlib import Path

_INIT = Path(__file__).resolve().parents[2] / "firmware" / "lib" / "bourg" / "__init__.py"
_FW = runpy.run_path(str(_INIT))
BOARD: str = _FW["IMAGE_BOARD"]
VERSION: tuple[int, int, int] = _FW["IMAGE_VERSION"]
TAG = "v" + ".".join(str(n) for n in VERSION)
NAME: str = _FW["IMAGE"]  # "ESP32_GENERIC v1.28.0"
# micropython.org names its downloads BOARD-YYYYMMDD-vX.Y.Z.bin (v1.28.0: 2026-04-06).
FILE = f"{BOARD}-20260406-{TAG}.bin"

ESP_IMAGE_MAGIC = 0xE9
# The extended header's chip id (ESP-IDF esp_app_format.h: esp_chip_id_t).
CHIP_IDS = {0x0000: "esp32", 0x0002: "esp32s2", 0x0005: "esp32c3", 0x0009: "esp32s3"}
_BANNER = re.compile(rb"MicroPython (v\d+\.\d+\.\d+)(-[\w.-]+)? on ")


class ImageError(ValueError):
    """The file is not an image this board can boot, or not the pinned MicroPython."""


def describe(data: bytes) -> dict[str, str | None]:
    """Chip and MicroPython version of an ESP32 firmware .bin; raises ImageError when it is
    not an ESP-IDF image at all (wrong magic, truncated, unknown chip)."""
    if len(data) < 24 or data[0] != ESP_IMAGE_MAGIC:
        raise ImageError("not an ESP32 firmware image (no 0xE9 image header at the start)")
    chip = CHIP_IDS.get(int.from_bytes(data[12:14], "little"))
    if chip is None:
        raise ImageError("unknown chip id in the image header "
                         f"({int.from_bytes(data[12:14], 'little'):#06x})")
    m = _BANNER.search(data)
    version = None if m is None else (m.group(1) + (m.group(2) or b"")).decode()
    return {"chip": chip, "micropython": version}


def check(data: bytes, chip: str = "esp32", any_version: bool = False) -> dict[str, str | None]:
    """describe(), refusing another chip's image and, unless any_version, another MicroPython
    than the pinned one (an image whose version cannot be read is let through)."""
    info = describe(data)
    if info["chip"] != chip:
        raise ImageError(f"the image is for {info['chip']}, the board is {chip}")
    v = info["micropython"]
    if v is not None and v != TAG and not any_version:
        raise ImageError(f"the image is MicroPython {v}; bourg's firmware is built and tested "
                         f"for {NAME} ({FILE}); --any-version flashes it anyway")
    return info
