"""The chip's partition table, its OTA data and its bootloader's choice of app, for
`esp32.Partition` on a virtual board (fw/esp32.py).

What it follows (MicroPython v1.28.0 and the ESP-IDF it builds with):
- the tables: `partitions-4MiBplus.csv` of the pinned ESP32_GENERIC image (one factory app,
  no otadata) and `partitions-4MiB-ota.csv` of the ESP32_GENERIC-OTA variant (ota_0, ota_1,
  otadata); `main.c` adds a "vfs" data partition from the end of the last one to the end of
  flash;
- esp_ota_ops.c: esp_ota_get_next_update_partition (the OTA slot after the running one, else
  the first; none on a table without OTA slots), esp_ota_set_boot_partition (validates the
  image, ESP_ERR_OTA_VALIDATE_FAILED; the factory app clears otadata; an OTA slot gets the
  next sequence number in the other otadata sector, state NEW), and
  esp_ota_mark_app_valid_cancel_rollback (ESP_ERR_NOT_FOUND without otadata);
- the bootloader with CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE (sdkconfig.base): an entry still
  PENDING_VERIFY at boot becomes ABORTED, the valid entry with the highest sequence number is
  chosen, a NEW one becomes PENDING_VERIFY; an image that does not load is skipped for the
  next one down to the factory app, then up.

Not modelled: the otadata's binary layout and CRC (an entry is kept as its sequence number
and state), secure boot, anti-rollback eFuses, app descriptors beyond the MicroPython banner.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TYPE_APP, TYPE_DATA = 0x00, 0x01
FACTORY, OTA_0, OTA_1 = 0x00, 0x10, 0x11
SUB_OTA, SUB_PHY, SUB_NVS, SUB_FAT = 0x00, 0x01, 0x02, 0x81
FLASH_SIZE = 4 * 1024 * 1024
SECTOR = 4096

# esp_ota_img_states_t
NEW, PENDING_VERIFY, VALID, INVALID, ABORTED, UNDEFINED = (
    "NEW", "PENDING_VERIFY", "VALID", "INVALID", "ABORTED", "UNDEFINED")

# esp_err_t codes the port raises as OSError(-code, name)
ESP_FAIL = -1
ESP_ERR_INVALID_ARG = 0x102
ESP_ERR_INVALID_SIZE = 0x104
ESP_ERR_NOT_FOUND = 0x105
ESP_ERR_OTA_VALIDATE_FAILED = 0x1503
ERR_NAMES = {ESP_FAIL: "ESP_FAIL", ESP_ERR_INVALID_ARG: "ESP_ERR_INVALID_ARG",
             ESP_ERR_INVALID_SIZE: "ESP_ERR_INVALID_SIZE", ESP_ERR_NOT_FOUND: "ESP_ERR_NOT_FOUND",
             ESP_ERR_OTA_VALIDATE_FAILED: "ESP_ERR_OTA_VALIDATE_FAILED"}


@dataclass(frozen=True)
class Part:
    label: str
    type: int
    subtype: int
    offset: int
    size: int

    def row(self) -> list[Any]:
        return [self.label, self.type, self.subtype, self.offset, self.size]


def _with_vfs(parts: list[Part]) -> tuple[Part, ...]:
    end = max(p.offset + p.size for p in parts)
    return (*parts, Part("vfs", TYPE_DATA, SUB_FAT, end, FLASH_SIZE - end))


TABLES: dict[str, tuple[Part, ...]] = {
    # ESP32_GENERIC v1.28.0: the pinned image
    "factory": _with_vfs([Part("nvs", TYPE_DATA, SUB_NVS, 0x9000, 0x6000),
                          Part("phy_init", TYPE_DATA, SUB_PHY, 0xF000, 0x1000),
                          Part("factory", TYPE_APP, FACTORY, 0x10000, 0x1F0000)]),
    # ESP32_GENERIC-OTA v1.28.0
    "ota": _with_vfs([Part("nvs", TYPE_DATA, SUB_NVS, 0x9000, 0x4000),
                      Part("otadata", TYPE_DATA, SUB_OTA, 0xD000, 0x2000),
                      Part("phy_init", TYPE_DATA, SUB_PHY, 0xF000, 0x1000),
                      Part("ota_0", TYPE_APP, OTA_0, 0x10000, 0x180000),
                      Part("ota_1", TYPE_APP, OTA_1, 0x190000, 0x180000)]),
}


def vfs_size(table: str) -> int:
    return next(p.size for p in TABLES[table] if p.label == "vfs")


def ota_slots(table: str) -> list[Part]:
    return sorted((p for p in TABLES[table] if p.type == TYPE_APP and p.subtype >= OTA_0),
                  key=lambda p: p.subtype)


# -- otadata: two entries (sequence number, state), as in its two sectors --------------------
def _valid(e: dict[str, Any] | None) -> bool:
    return e is not None and e.get("state") not in (INVALID, ABORTED)


def active_entry(otadata: list[dict[str, Any] | None]) -> int:
    """bootloader_common_get_active_otadata: the valid entry with the highest sequence
    number (the first on a tie), -1 when none is valid."""
    valid = [i for i in (0, 1) if _valid(otadata[i])]
    if not valid:
        return -1
    return max(valid, key=lambda i: (otadata[i]["seq"], -i))  # type: ignore[index]


class ChipPartitions:
    """One board's partitions: the table, otadata (JSON in its workdir) and what was written
    to its app partitions (one file each). An app partition never written holds the pinned
    image, as esptool flashed it."""

    def __init__(self, board_dir: Path, table: str) -> None:
        self.table = table
        self.parts = TABLES[table]
        self.dir = board_dir / "partitions"
        self.otadata_path = board_dir / "otadata.json"
        self.running = self.first_app().label

    def first_app(self) -> Part:
        apps = [p for p in self.parts if p.type == TYPE_APP]
        return next((p for p in apps if p.subtype == FACTORY), apps[0])

    def part(self, label: str) -> Part:
        for p in self.parts:
            if p.label == label:
                return p
        raise KeyError(label)

    def has_otadata(self) -> bool:
        return any(p.type == TYPE_DATA and p.subtype == SUB_OTA for p in self.parts)

    # -- otadata ------------------------------------------------------------------------------
    def read_otadata(self) -> list[dict[str, Any] | None]:
        try:
            data = json.loads(self.otadata_path.read_text())
        except (OSError, ValueError):
            return [None, None]
        return [e if isinstance(e, dict) and isinstance(e.get("seq"), int) else None
                for e in (data + [None, None])[:2]]

    def write_otadata(self, otadata: list[dict[str, Any] | None]) -> None:
        tmp = self.otadata_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(otadata))
        os.replace(tmp, self.otadata_path)

    def slot_of(self, entry: dict[str, Any]) -> Part:
        slots = ota_slots(self.table)
        return slots[(entry["seq"] - 1) % len(slots)]

    def boot_partition(self) -> Part | None:
        """esp_ota_get_boot_partition: None without otadata (Partition.BOOT is then ENOENT)."""
        if not self.has_otadata():
            return None
        otadata = self.read_otadata()
        i = active_entry(otadata)
        if i < 0:
            return self.first_app()
        return self.slot_of(otadata[i])  # type: ignore[arg-type]

    def next_update(self, start: str) -> Part | None:
        """esp_ota_get_next_update_partition(start)."""
        slots = ota_slots(self.table)
        labels = [p.label for p in slots]
        if not slots:
            return None
        if start in labels and labels.index(start) + 1 < len(slots):
            return slots[labels.index(start) + 1]
        return slots[0]

    def set_boot(self, label: str) -> int:
        """esp_ota_set_boot_partition: 0 or an esp_err_t."""
        p = self.part(label)
        if not self._problem(p)[1]:  # validated first, whatever the partition
            return ESP_ERR_OTA_VALIDATE_FAILED
        if p.type != TYPE_APP:
            return ESP_ERR_INVALID_ARG
        if not self.has_otadata():
            return ESP_ERR_NOT_FOUND
        if p.subtype == FACTORY:
            self.write_otadata([None, None])
            return 0
        slots = [s.label for s in ota_slots(self.table)]
        n, idx = len(slots), slots.index(label)
        otadata = self.read_otadata()
        i = active_entry(otadata)
        if i < 0:
            otadata[0] = {"seq": idx + 1, "state": NEW}
        else:
            seq = otadata[i]["seq"]  # type: ignore[index]
            new = idx + 1
            while new < seq:
                new += n
            otadata[1 - i] = {"seq": new, "state": NEW}
        self.write_otadata(otadata)
        return 0

    def mark_valid(self) -> int:
        """esp_ota_mark_app_valid_cancel_rollback: 0 or an esp_err_t."""
        if not self.has_otadata():
            return ESP_ERR_NOT_FOUND
        otadata = self.read_otadata()
        i = active_entry(otadata)
        if i < 0:
            return ESP_FAIL  # "Running firmware is factory"
        if otadata[i]["state"] != VALID:  # type: ignore[index]
            otadata[i]["state"] = VALID  # type: ignore[index]
            self.write_otadata(otadata)
        return 0

    # -- the bootloader ---------------------------------------------------------------------
    def boot(self) -> list[str]:
        """What the second-stage bootloader does at a reset: pick the app and set `running`.
        Returns its log lines for the console."""
        log: list[str] = []
        order = self._boot_order(log)
        for p in order:
            why, loads = self._problem(p)
            if why is None:
                self.running = p.label
                self._first_ota_boot(p)
                return log
            if loads:  # on the chip it starts, crashes, resets, and the bootloader aborts it
                self._abort(p)
                log.append(f"{p.label}: {why}: it stands for an app that crashes at boot; "
                           "rolled back")
            else:
                log.append(f"{p.label}: {why}; trying the next app")
        self.running = self.first_app().label  # nothing loads: the chip would loop here
        log.append("no app loads; the virtual board runs the first one")
        return log

    def _first_ota_boot(self, p: Part) -> None:
        """set_actual_ota_seq: with blank otadata and no factory app, the bootloader records
        the OTA app it loaded as valid."""
        if (not self.has_otadata() or p.subtype == FACTORY
                or self.read_otadata() != [None, None]):
            return
        slots = ota_slots(self.table)
        self.write_otadata([{"seq": slots.index(p) + 1, "state": VALID}, None])

    def _abort(self, p: Part) -> None:
        if not self.has_otadata():
            return
        otadata = self.read_otadata()
        for e in otadata:
            if e is not None and e["state"] == PENDING_VERIFY and self.slot_of(e) == p:
                e["state"] = ABORTED
        self.write_otadata(otadata)

    def _boot_order(self, log: list[str]) -> list[Part]:
        apps = [self.first_app(), *[s for s in ota_slots(self.table)
                                    if s != self.first_app()]]
        if not self.has_otadata():
            return apps
        otadata = self.read_otadata()
        changed = False
        for i in (0, 1):
            e = otadata[i]
            if e is not None and e["state"] == PENDING_VERIFY:
                e["state"] = ABORTED
                changed = True
                log.append(f"otadata[{i}] was not confirmed: ABORTED (rollback)")
        i = active_entry(otadata)
        if i < 0:
            chosen = apps[0]
        else:
            e = otadata[i]
            assert e is not None
            chosen = self.slot_of(e)
            if e["state"] == NEW:
                e["state"] = PENDING_VERIFY
                changed = True
        if changed:
            self.write_otadata(otadata)
        # the chosen one, then down towards the factory app, then up
        k = apps.index(chosen)
        return [apps[k], *reversed(apps[:k]), *apps[k + 1:]]

    def _problem(self, p: Part) -> tuple[str | None, bool]:
        """(why the virtual board cannot run this app partition or None, whether the image
        loads at all). A partition never written is the pinned image; another image must load
        (header, checksum, hash) and be the pinned MicroPython, since the VM is that one."""
        path = self.dir / f"{p.label}.bin"
        if not path.exists():
            return (None, True) if p == self.first_app() else ("empty", False)
        data = self.read(p.label, 0, p.size)
        why = image_problem(data)
        if why is not None:
            return why, False
        from host_tools.build import pinned_image

        try:
            info = pinned_image.check(data)
        except pinned_image.ImageError as e:
            return str(e), True
        if info["micropython"] is None:
            return f"no MicroPython banner (a virtual board runs only {pinned_image.NAME})", True
        return None, True

    # -- contents -----------------------------------------------------------------------------
    def _file(self, label: str) -> Path:
        p = self.part(label)
        path = self.dir / f"{label}.bin"
        if not path.exists():
            self.dir.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"\xff" * p.size)
        return path

    def _check_range(self, label: str, offset: int, n: int) -> None:
        p = self.part(label)
        if offset < 0 or n < 0 or offset > p.size:
            raise ValueError(ESP_ERR_INVALID_ARG)
        if offset + n > p.size:
            raise ValueError(ESP_ERR_INVALID_SIZE)

    def read(self, label: str, offset: int, n: int) -> bytes:
        self._check_range(label, offset, n)
        path = self.dir / f"{label}.bin"
        if not path.exists():
            return b"\xff" * n
        with path.open("rb") as f:
            f.seek(offset)
            return f.read(n)

    def write(self, label: str, offset: int, data: bytes) -> None:
        """NOR flash: a write only clears bits, an erase sets them back."""
        self._check_range(label, offset, len(data))
        with self._file(label).open("r+b") as f:
            f.seek(offset)
            old = f.read(len(data))
            f.seek(offset)
            f.write(bytes(a & b for a, b in zip(old, data, strict=True)))

    def erase(self, label: str, offset: int, n: int) -> None:
        self._check_range(label, offset, n)
        if n % SECTOR:
            raise ValueError(ESP_ERR_INVALID_SIZE)
        if offset % SECTOR:
            raise ValueError(ESP_ERR_INVALID_ARG)
        with self._file(label).open("r+b") as f:
            f.seek(offset)
            f.write(b"\xff" * n)


def image_problem(data: bytes) -> str | None:
    """esp_image_verify, as far as the virtual board goes: the header, every segment, the
    checksum and the appended SHA-256 (esptool parses them). None when the image loads."""
    from esptool.bin_image import ESP32FirmwareImage

    if not data or data[0] != 0xE9:
        return "no image (no 0xE9 header)"
    try:
        img = ESP32FirmwareImage(io.BytesIO(data))
    except Exception as e:  # noqa: BLE001 - esptool raises FatalError and struct errors
        return f"the image does not parse ({e})"
    if img.chip_id != 0:  # esp_image_verify checks the image is for this chip
        return f"the image is for another chip (chip id {img.chip_id})"
    if img.calculate_checksum() != img.checksum:
        return "image checksum mismatch"
    if img.append_digest and img.stored_digest != img.calc_digest:
        return "image SHA-256 mismatch"
    return None
