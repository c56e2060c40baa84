"""One virtual ESP32: a MicroPython Unix process behind a pty that speaks the board's REPL.

`Board` is what tests and tools hold: its identity (name, config, MAC, flash image) and the
levers a test pulls (power, resets, inputs, WiFi, the flash). The supervisor behind it plays
the parts of the chip that the VM itself cannot, in three parts, one module each:

- board_process.py: the process's life: power, reset and its causes, deep sleep and wake-up,
  the watchdog, power cuts;
- board_console.py: the USB-serial bridge, the pty the user (mpremote) opens, and the console
  output tests wait on;
- board_chip.py: the chip's services to the overlay modules: pins, PWM, ADC, I2C (handing
  over to the parts in parts/), RTC, NVS, the heap report, WiFi and ESP-NOW.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from host_tools.emulator.board_chip import (
    PM_NONE,
    PM_PERFORMANCE,
    PM_POWERSAVE,
    STAT_BEACON_TIMEOUT,
    STAT_CONNECTING,
    STAT_GOT_IP,
    STAT_IDLE,
    STAT_NO_AP_FOUND,
    STAT_WRONG_PASSWORD,
    ChipServices,
)
from host_tools.emulator.board_console import ConsoleBridge
from host_tools.emulator.board_process import (
    CAUSE_NAMES,
    DEEPSLEEP_RESET,
    EXT0_WAKE,
    EXT1_WAKE,
    HARD_RESET,
    OVERLAY_HEAP_ALLOWANCE,
    PWRON_RESET,
    SOFT_RESET,
    TIMER_WAKE,
    WDT_RESET,
    ProcessControl,
    micropython_binary,
)
from host_tools.emulator.netlink import NetLink
from host_tools.emulator.partitions import ChipPartitions, vfs_size
from host_tools.emulator.waiting import wait_until

if TYPE_CHECKING:
    from host_tools.emulator.parts import Device
    from host_tools.emulator.world import World

__all__ = [
    "Board", "BoardError", "efuse_mac", "micropython_binary",
    "ESPRESSIF_OUI", "EFUSE_FILE", "FLASH_SIZE", "OVERLAY_HEAP_ALLOWANCE",
    "PWRON_RESET", "HARD_RESET", "WDT_RESET", "DEEPSLEEP_RESET", "SOFT_RESET", "CAUSE_NAMES",
    "TIMER_WAKE", "EXT0_WAKE", "EXT1_WAKE",
    "STAT_IDLE", "STAT_CONNECTING", "STAT_GOT_IP", "STAT_BEACON_TIMEOUT", "STAT_NO_AP_FOUND",
    "STAT_WRONG_PASSWORD", "PM_NONE", "PM_PERFORMANCE", "PM_POWERSAVE",
]

FLASH_SIZE = 2 * 1024 * 1024
# Espressif's OUI: the first half of every ESP32's factory base MAC.
ESPRESSIF_OUI = b"\x24\x0a\xc4"
EFUSE_FILE = "efuse-mac"


def efuse_mac(board_dir: Path, new: bytes | None = None) -> bytes:
    """The board's base MAC, as the factory burns it into an ESP32's eFuse: machine.unique_id(),
    the STA's MAC and what esptool reads are all this one value. It is kept beside the flash
    image, so the same virtual board keeps its identity across runs and a board in another
    workdir has its own; the first read writes `new`, or a random Espressif MAC."""
    path = Path(board_dir) / EFUSE_FILE
    try:
        mac = bytes.fromhex(path.read_text().strip())
        if len(mac) == 6:
            return mac
    except (OSError, ValueError):
        pass
    mac = new or ESPRESSIF_OUI + os.urandom(3)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(mac.hex() + "\n")
    return mac


def _parse_size(s: str) -> int:
    m = re.fullmatch(r"(\d+)([kKmM]?)", str(s))
    if not m:
        raise ValueError(f"bad heap size {s!r}")
    n = int(m.group(1))
    return n * {"": 1, "k": 1024, "K": 1024, "m": 1 << 20, "M": 1 << 20}[m.group(2)]


class BoardError(RuntimeError):
    pass


class Board(ProcessControl, ConsoleBridge, ChipServices):
    def __init__(self, world: World, name: str, config: dict[str, Any], *, mac: bytes,
                 heapsize: str, partitions: str = "factory") -> None:
        self.world = world
        self.name = name
        self.config = config
        self.mac = mac
        self.heap_budget = _parse_size(heapsize)
        self.dir = world.workdir / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o700)  # its flash holds the board's secrets, as a chip's does
        # the chip's partition table: "factory" (the pinned image) or "ota" (its -OTA variant,
        # whose filesystem is 960 KiB: flash.img is the vfs partition, sized as on the chip)
        self.partitions = ChipPartitions(self.dir, partitions)
        self.vfs_size = FLASH_SIZE if partitions == "factory" else vfs_size(partitions)
        self.flash_path = self.dir / "flash.img"
        if not self.flash_path.exists():
            self.flash_path.write_bytes(b"\xff" * self.vfs_size)
        self.nvs_path = self.dir / "nvs.json"
        emu = config.get("emulator", {})
        self.position = (float(emu.get("x", 0.0)), float(emu.get("y", 0.0)))
        self.link = NetLink(self)
        self.devices: list[Device] = []
        self._init_chip()
        self._init_process()
        self._init_console()  # last: it opens the user's pty and starts reading it

    # -- public API (any thread) -----------------------------------------------------------
    def attach(self, device: Device) -> Device:
        """Put a device model on this board's pins or buses."""
        self.devices.append(device)
        device.attached(self)
        return device

    def start(self) -> Board:
        """Power the board on (a power-on reset)."""
        self.world.call_fn(self._power_on)
        return self

    power_on = start

    def stop(self) -> None:
        """Power off for good (ends the process); also used when the world closes."""
        self.world.call_fn(self._power_off)

    def power_cut(self) -> None:
        """Cut the power now: the process dies mid-instruction, RTC memory is lost."""
        self.world.call_fn(self._power_off)

    def hard_reset(self) -> None:
        """Press EN: the ESP32 reports this as a power-on reset."""
        self.world.call_fn(self._restart, PWRON_RESET, 0)

    def watchdog_reset(self) -> None:
        """The task watchdog fires now, as if the app had stalled (ESP32: TG0WDT_SYS_RESET)."""
        self.world.call_fn(self._watchdog_fires)

    def arm_power_cut(self, at_write: int | None) -> None:
        """Cut the power just before the n-th flash block write (erase or program) after the
        next boot; None disarms."""
        self.cut_at = at_write

    def arm_power_cut_in(self, n: int | None) -> None:
        """Cut the power just before the n-th flash block write from now (the running board
        takes the order at its next look at the world, within milliseconds); None disarms."""
        self.cut_armed = None
        self.world.call_fn(lambda: self._event("arm_cut", n=n))
        try:
            wait_until(lambda: self.cut_armed is not None, 5,
                       f"{self.name}: the board did not take the power-cut order")
        except TimeoutError as e:
            raise BoardError(str(e)) from None

    def advance_clock(self, seconds: float) -> None:
        """Move the board's RTC forward (tests of what happens days later, in seconds)."""
        def _go() -> None:
            self.rtc_offset += int(seconds)
            self._event("rtc_offset", offset=self.rtc_offset)
        self.world.call_fn(_go)

    def drive(self, gpio: int, level: int | None) -> None:
        """Drive an input pin from outside (None lets it float)."""
        self.world.call_fn(self._drive, gpio, level)

    def wifi_cut(self) -> None:
        self.world.call_fn(self._wifi_set, False)

    def wifi_restore(self) -> None:
        self.world.call_fn(self._wifi_set, True)

    # -- the flash image (board off) -------------------------------------------------------
    def install(self, files: dict[str, Any], *, format: bool = True) -> None:
        """Write files to the flash image with the real VM's LittleFS2 while the board is off."""
        if self.state != "off":
            raise BoardError(f"{self.name}: install files only while the board is off")
        with tempfile.TemporaryDirectory() as stage:
            for dest, content in files.items():
                target = Path(stage) / dest.lstrip("/")
                target.parent.mkdir(parents=True, exist_ok=True)
                if isinstance(content, Path):
                    if content.is_dir():
                        shutil.copytree(content, target, dirs_exist_ok=True,
                                        ignore=shutil.ignore_patterns("__pycache__"))
                    else:
                        shutil.copyfile(content, target)
                elif isinstance(content, str):
                    target.write_text(content)
                else:
                    target.write_bytes(bytes(content))
            if format:
                self.flash_path.write_bytes(b"\xff" * self.vfs_size)
            self._fsutil("format" if format else "install", stage)

    def emulator_heap_at_boot(self, app_runs_asyncio: bool = True) -> int:
        """The heap the boot left that is the emulator's (its overlay modules), to be taken
        out of an app's figure: all the board reported at boot, less asyncio's for an app that
        runs it. asyncio is imported at boot here (fw/_boot.py); on the chip it is frozen,
        and its objects are the app's."""
        return self.heap["used"] - (self.heap.get("asyncio", 0) if app_runs_asyncio else 0)

    def read_flash(self) -> dict[str, bytes]:
        """Every file on the flash (board off), by path."""
        if self.state == "running":
            raise BoardError(f"{self.name}: read the flash only while the board is off")
        out: dict[str, bytes] = {}
        with tempfile.TemporaryDirectory() as d:
            self._fsutil("dump", d)
            for p in Path(d).rglob("*"):
                if p.is_file():
                    out["/" + str(p.relative_to(d))] = p.read_bytes()
        return out

    def _fsutil(self, cmd: str, arg: str) -> None:
        env = dict(os.environ, BOURG_FLASH=str(self.flash_path), BOURG_FW=str(self.world.fw_dir),
                   MICROPYPATH=".frozen")
        r = subprocess.run([micropython_binary(), str(self.world.fw_dir / "_fsutil.py"), cmd, arg],
                           env=env, capture_output=True, timeout=60)
        if r.returncode != 0:
            raise BoardError(f"{self.name}: flash {cmd} failed: {r.stdout.decode()}"
                             f"{r.stderr.decode()}")
