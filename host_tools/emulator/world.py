"""The world that virtual boards live in: one asyncio loop in a background thread.

A `World` owns the control server the boards' overlay modules talk to, the ESP-NOW radio medium,
each board's network link (a proxy that a test can cut, delay or restore), an SNTP responder and
the WiFi access points. Tests and tools use its synchronous methods from their own thread.

    world = World(tmp_path)
    board = world.add_board(config, app_files)
    board.start()
    board.wait_output("app-ready")
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import shutil
import socket
import struct
import sys
import threading
import time
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path
from typing import Any, Callable

from host_tools.build import mpy
from host_tools.emulator.board import ESPRESSIF_OUI, Board, efuse_mac
from host_tools.emulator.clock import Later, WorldClock

FW_DIR = Path(__file__).parent / "fw"
# An access point's channel unless World(ap_channels=...) says otherwise: not the chip's
# default channel 1, so a board that does not follow its AP, or a node not set to the site's
# ESP-NOW channel, is caught by any test that puts it beside a board joined to WiFi.
DEFAULT_AP_CHANNEL = 6
# how long close() waits for the world's cancelled tasks before it names those still running
CLOSE_TASKS_S = 5.0


class RadioMedium:
    """ESP-NOW air: who hears whom, with range, loss and latency; a frame reaches only radios
    on the sender's WiFi channel, and a receiver joined to an AP in WiFi power saving
    (modem sleep) misses `modem_sleep_loss` of the frames sent to it (PM_PERFORMANCE), or
    `powersave_loss` (PM_POWERSAVE). Those two are a model, not a measurement: see
    docs/emulator.md."""

    def __init__(self, range_m: float = 120.0, loss: float = 0.0,
                 latency_ms: tuple[float, float] = (1.0, 4.0), seed: int = 1,
                 modem_sleep_loss: float = 0.5, powersave_loss: float = 0.8) -> None:
        self.range_m = range_m
        self.loss = loss
        self.latency_ms = latency_ms
        self.modem_sleep_loss = modem_sleep_loss
        self.powersave_loss = powersave_loss
        self.rng = random.Random(seed)
        self.frames_sent = 0
        self.frames_lost = 0
        self.frames_off_channel = 0  # not heard: the receiver's radio was on another channel
        self.frames_slept = 0  # not heard: the receiver's radio was in modem sleep

    def rssi(self, d: float) -> int:
        return int(-40 - 25 * math.log10(max(d, 1.0)))

    def hears(self, a: Board, b: Board) -> float | None:
        d = math.dist(a.position, b.position)
        return d if d <= self.range_m else None

    def lost(self) -> bool:
        return self.loss > 0 and self.rng.random() < self.loss

    def slept(self, b: Board) -> bool:
        """Was b's radio off (WiFi modem sleep) when the frame came?"""
        if not b.modem_sleep:
            return False
        p = self.powersave_loss if b.wifi_pm == 2 else self.modem_sleep_loss
        return p > 0 and self.rng.random() < p

    def latency(self) -> float:
        lo, hi = self.latency_ms
        return self.rng.uniform(lo, hi) / 1000.0


class World:
    def __init__(self, workdir: str | Path, *, dns: dict[str, str] | None = None,
                 access_points: dict[str, str | None] | None = None,
                 radio: RadioMedium | None = None, heapsize: str = "256k",
                 ap_channels: dict[str, int] | None = None, clock: str = "real") -> None:
        """dns: a host name's IP, or "ip:port" to send every connection to it to that port;
        ap_channels: an access point's WiFi channel by SSID (DEFAULT_AP_CHANNEL for the
        others); clock: "real", or "virtual" to skip the time every board only waits
        through (clock.py)."""
        if clock not in ("real", "virtual"):
            raise ValueError(f"clock must be 'real' or 'virtual', not {clock!r}")
        self.clock = WorldClock(virtual=clock == "virtual")
        self._warp_poked = False
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.dns: dict[str, str] = {"localhost": "127.0.0.1"}
        self.dns.update(dns or {})
        self.access_points: dict[str, str | None] = dict(access_points or {})
        self.ap_channels: dict[str, int] = dict(ap_channels or {})
        self.radio = radio or RadioMedium()
        self.heapsize = heapsize
        # Shifts the town's wall clock (SNTP, RTC chips) from the host's, e.g. to run a night
        # scenario in the afternoon.
        self.wall_offset_s = 0.0
        self.boards: dict[str, Board] = {}
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="bourg-world", daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self._ntp_transport: asyncio.DatagramTransport | None = None
        self.sntp: _SntpServer | None = None
        self.port = 0
        self.ntp_port = 0
        self.fw_dir = self._build_firmware_image()
        self._started = False

    # -- lifecycle -------------------------------------------------------------------------
    def _build_firmware_image(self) -> Path:
        """The virtual board's 'firmware': our overlays. The image's frozen umqtt.simple is not
        modelled: the firmware brings its own pinned copy (docs/runtime.md)."""
        dst = self.workdir / "_firmware"
        if dst.exists():
            shutil.rmtree(dst)
        dst.mkdir(parents=True)
        # Frozen modules cost an ESP32 no heap; compiled .mpy is the closest the Unix VM
        # gets (no compiler RAM at import). The scripts the VM runs by path stay source.
        sources = [(p, p.name) for p in FW_DIR.glob("*.py")]
        for src, rel in sources:
            if rel in ("_boot.py", "_fsutil.py"):
                shutil.copyfile(src, dst / rel)
            else:
                shutil.copyfile(mpy.compile_file(src, source_name=rel),
                                dst / (rel[:-3] + ".mpy"))
        return dst

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def start(self) -> World:
        if self._started:
            return self
        self._thread.start()
        self.call(self._astart())
        self._started = True
        return self

    async def _astart(self) -> None:
        self._server = await asyncio.start_server(self._on_board_conn, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        self._ntp_transport, self.sntp = await self.loop.create_datagram_endpoint(
            lambda: _SntpServer(self), local_addr=("127.0.0.1", 0))
        self.ntp_port = self._ntp_transport.get_extra_info("sockname")[1]
        self._wd_task = self.loop.create_task(self._watchdog_loop())
        if self.clock.virtual:
            self._warp_task = self.loop.create_task(self._warp_loop())

    def close(self) -> None:
        if not self._started:
            return
        for b in list(self.boards.values()):
            try:
                b.stop()
            except Exception:
                pass
        async def _aclose() -> None:
            if self._server:
                self._server.close()
            if self._ntp_transport:
                self._ntp_transport.close()
            # Cancel and await every task (proxies, watchdog) so none is left pending for
            # the garbage collector to complain about at some later, awkward moment.
            tasks = [t for t in asyncio.all_tasks(self.loop) if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            if not tasks:
                return
            _, stuck = await asyncio.wait(tasks, timeout=CLOSE_TASKS_S)
            for t in stuck:  # a task that swallows its cancellation: say which, leave it
                print(f"bourg world: a task ignored its cancellation at close: {t!r}",
                      file=sys.stderr, flush=True)
        self.call(_aclose())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        self._started = False

    def wall_time(self) -> float:
        """Unix time of the virtual town (the world's clock + wall_offset_s)."""
        return self.clock.time() + self.wall_offset_s

    def later(self, delay_s: float, fn: Callable[..., Any], *args: Any) -> Later:
        """Call fn(*args) after delay_s on the world's clock (on the world's loop)."""
        return self.clock.later(self.loop, delay_s, fn, *args)

    def elapse(self, seconds: float, timeout: float | None = None) -> None:
        """Return once `seconds` have passed on the world's clock: skipped in virtual time,
        slept through in real time. The end is a deadline of its own, and the clock is held
        from then until this returns, so the world does not run on past it while the test
        looks. TimeoutError if it takes more than `timeout` real seconds (default: seconds
        + 30)."""
        reached = threading.Event()
        with ExitStack() as held:  # the hold taken on arrival, let go as this returns

            def arrive() -> None:
                held.enter_context(self.clock.hold())
                reached.set()

            timer = self.call_fn(self.later, seconds, arrive)
            try:
                if not reached.wait(seconds + 30 if timeout is None else timeout):
                    raise TimeoutError(f"the world's clock did not advance {seconds} s")
            finally:
                self.call_fn(timer.cancel)

    def step(self, seconds: float, timeout: float | None = None) -> None:
        """Inside `hold_clock`, let the clock run `seconds` on and hold it again: a test that
        acts in small steps (a typist's keys) moves as fast as the boards let it, and the
        world never jumps past its next step, as it could between two holds. In virtual time
        the step's end is a deadline of its own and the hold is handed to it; in real time
        this is a sleep."""
        if not self.clock.virtual:
            time.sleep(seconds)
            return
        if threading.current_thread() is self._thread:
            raise RuntimeError("World.step waits for the world's loop: not from the loop")
        if not self.clock.held():  # checked first: an idle world could reach the step's end,
            # and take a hold, before the let_go below found none
            raise RuntimeError("World.step hands over the caller's hold: the clock is not held")
        reached = threading.Event()
        done = [False]  # settled: a late arrive takes no hold

        def arrive() -> None:
            if not done[0] and not reached.is_set():
                self.clock.take()
                reached.set()

        def settle() -> None:  # in the loop, after or instead of arrive: held once more
            timer.cancel()
            arrive()
            done[0] = True

        try:
            timer = self.call_fn(self.later, seconds, arrive)
        except BaseException:
            done[0] = True  # a timer armed after all must not take a hold
            raise
        try:
            self.clock.let_go()  # the step's own deadline now bounds any skip
        except RuntimeError:  # not inside hold_clock
            done[0] = True
            self.call_fn(timer.cancel)
            raise
        try:
            self.loop.call_soon_threadsafe(self.poke_clock)
            if not reached.wait(seconds + 30 if timeout is None else timeout):
                raise TimeoutError(f"the world's clock did not advance {seconds} s")
        finally:
            self.call_fn(settle)

    def ntp_lies(self, *errors_s: float) -> None:
        """The town's NTP server answers the next len(errors_s) questions that many seconds
        off the truth, whoever asks (a broken server in a pool, a spoofed reply)."""
        if self.sntp is None:
            raise RuntimeError("the world is not started")
        self.call_fn(self.sntp.lies.extend, errors_s)

    def hold_clock(self) -> AbstractContextManager[None]:
        """`with world.hold_clock():` no skip of virtual time inside (WorldClock.hold)."""
        return self.clock.hold()

    def __enter__(self) -> World:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, coro: Any, timeout: float = 30.0) -> Any:
        """Run a coroutine on the world loop from another thread and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call_fn(self, fn: Callable[..., Any], *args: Any, timeout: float = 30.0) -> Any:
        async def _c() -> Any:
            return fn(*args)
        if threading.current_thread() is self._thread:
            return fn(*args)
        return self.call(_c(), timeout)

    # -- boards ----------------------------------------------------------------------------
    def add_board(self, config: dict[str, Any] | str | Path, files: dict[str, Any] | None = None,
                  *, name: str | None = None, heapsize: str | None = None,
                  mac: bytes | None = None, partitions: str = "factory") -> Board:
        """Create a board from its board config; `files` maps flash paths to bytes, str or a
        host Path (a folder is copied recursively) and is written to a fresh flash image.
        `partitions` is the image's table: "factory" (the pinned image) or "ota"."""
        if not isinstance(config, dict):
            config = json.loads(Path(config).read_text())
        name = name or config["device_id"]
        if name in self.boards:
            raise ValueError(f"board {name!r} already exists in this world")
        if mac is None:
            mac = efuse_mac(self.workdir / name, self._next_mac())
        owner = self.board_by_mac(mac)
        if owner is not None:
            raise ValueError(f"board {name!r} has the MAC of {owner.name} ({mac.hex()})")
        board = Board(self, name, config, mac=mac, heapsize=heapsize or
                      str(config.get("emulator", {}).get("heapsize", self.heapsize)),
                      partitions=partitions)
        self.boards[name] = board
        if files is not None:
            board.install(files)
        return board

    def _next_mac(self) -> bytes:
        """A MAC for a board new to this workdir: numbered in the order boards are added, so a
        test's world is the same from run to run, and never one a board here already has."""
        n = len(self.boards) + 1
        while True:
            mac = ESPRESSIF_OUI + struct.pack(">I", 0x100000 + n)[1:]
            if self.board_by_mac(mac) is None:
                return mac
            n += 1

    def ap_channel(self, ssid: str) -> int:
        """The WiFi channel an access point is on (a station that joins it moves there)."""
        return self.ap_channels.get(ssid, DEFAULT_AP_CHANNEL)

    def board_by_mac(self, mac: bytes) -> Board | None:
        for b in self.boards.values():
            if b.mac == mac:
                return b
        return None

    async def _on_board_conn(self, reader: asyncio.StreamReader,
                             writer: asyncio.StreamWriter) -> None:
        board: Board | None = None
        sock = writer.get_extra_info("socket")
        if sock is not None:  # events to the board go out at once (see fw/_world.py)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                msg = json.loads(line)
                if board is None:
                    if msg.get("op") != "hello" or msg.get("board") not in self.boards:
                        writer.close()
                        return
                    board = self.boards[msg["board"]]
                    board._attach_conn(writer)
                board._handle(msg, writer)
        except (ConnectionError, json.JSONDecodeError):
            pass
        finally:
            if board is not None:
                board._detach_conn(writer)

    async def _watchdog_loop(self) -> None:
        while True:
            await asyncio.sleep(0.02)
            self._tick_boards()

    def _tick_boards(self) -> None:
        now = self.clock.now()
        for b in list(self.boards.values()):
            b._tick(now)

    # -- virtual time ------------------------------------------------------------------------
    async def _warp_loop(self) -> None:
        """Skips are also checked as each board says it waits (poke_clock); this loop catches
        what changes with the host's time alone: a quiet period ending, a deadline passing."""
        while True:
            await asyncio.sleep(0.005)
            self._warp()

    def poke_clock(self) -> None:
        """A board just said it waits: check for a skip once the loop is free."""
        if self.clock.virtual and not self._warp_poked:
            self._warp_poked = True
            self.loop.call_soon(self._warp)

    def _warp(self) -> None:
        self._warp_poked = False
        self._wake_due_boards()
        with self.clock.lock:  # a test taking hold of the clock waits for this decision
            target = self._skip_target_ms()
            skipped = target is not None and self.clock.skip_to_ms(target)
        if skipped:
            self._wake_due_boards()
            self._tick_boards()  # the watchdog and the parts see the new time at once

    def _wake_due_boards(self) -> None:
        """Boards learn the skipped time lazily (Board._tell_clock): one whose deadline has
        come is told now, and wakes."""
        now = self.clock.now_ms()
        for b in self.boards.values():
            if b.running and b._idle_until is not None and 0 <= b._idle_until <= now:
                b._tell_clock()

    def _skip_target_ms(self) -> int | None:
        """The earliest deadline anyone waits for, when everyone waits (clock.py); None
        while someone works or something is in flight, or if nothing will ever happen."""
        if not self.clock.may_skip():
            return None
        deadlines: list[float] = []
        for b in self.boards.values():
            if b.state != "running":
                continue  # asleep or off: a world timer or a part wakes it
            until = b._idle_until
            if until is None or b._conn is None or b.link.unread():
                return None  # working, booting, or a request or reply on its way
            if until >= 0:
                deadlines.append(until)
            if b.wdt_timeout is not None:
                deadlines.append((b._wdt_last + b.wdt_timeout) * 1000 + 1)
        t = self.clock.next_timer()
        if t is not None:
            deadlines.append(t * 1000)
        if not deadlines:
            return None
        target = math.ceil(min(deadlines))
        return target if target > self.clock.now_ms() else None

    # -- radio -------------------------------------------------------------------------------
    def _radio_send(self, src: Board, dst_mac: bytes, data: bytes) -> bool:
        """Deliver one ESP-NOW frame; returns whether a unicast frame would be acknowledged."""
        self.radio.frames_sent += 1
        broadcast = dst_mac == b"\xff" * 6
        acked = False
        for b in self.boards.values():
            if b is src or not b.espnow_on or not b.running or not b.sta_active:
                continue
            if not broadcast and b.mac != dst_mac:
                continue
            d = self.radio.hears(src, b)
            if d is None:
                continue
            if b.radio_channel != src.radio_channel:
                self.radio.frames_off_channel += 1
                continue
            if self.radio.slept(b):
                self.radio.frames_slept += 1
                continue
            if self.radio.lost():
                self.radio.frames_lost += 1
                continue
            acked = True
            rssi = self.radio.rssi(d)
            self.clock.in_flight(+1)
            self.loop.call_later(self.radio.latency(), self._land, b, src.mac, data, rssi)
        return acked and not broadcast

    def _land(self, b: Board, src: bytes, data: bytes, rssi: int) -> None:
        self.clock.in_flight(-1)
        b._deliver_espnow(src, data, rssi)


class _SntpServer(asyncio.DatagramProtocol):
    """Answers SNTP requests with the world's clock, standing in for pool.ntp.org."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.transport: asyncio.DatagramTransport | None = None
        self.lies: list[float] = []  # the next answers' errors (s), one per answer
        self.answers = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) < 48 or self.transport is None:
            return
        now = self.world.wall_time() + 2208988800
        if self.lies:
            now += self.lies.pop(0)
        self.answers += 1
        sec = int(now)
        frac = int((now - sec) * 2**32)
        resp = bytearray(48)
        resp[0] = 0x24  # LI 0, version 4, mode 4 (server)
        resp[1] = 1  # stratum
        resp[24:32] = data[40:48]  # originate = client's transmit
        struct.pack_into(">II", resp, 32, sec, frac)
        struct.pack_into(">II", resp, 40, sec, frac)
        self.transport.sendto(bytes(resp), addr)
