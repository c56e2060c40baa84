"""A virtual board's chip services: what the overlay modules (fw/machine.py, network.py,
esp32.py, espnow.py...) ask of the world, and the state of the chip they ask about.

The overlays send JSON lines over the board's control socket (`{"op": "adc", "pin": 34,
"id": 7}`); `_handle` calls `_op_<op>` here and sends back its result, or an exception for the
overlay to raise. The world sends events the other way (`_event`: a pin edge, a WiFi status, an
ESP-NOW frame). This is where the chip's peripherals live on the world's side: GPIO, PWM,
bitstream, ADC and I2C hand over to the parts (parts/), then the RTC, NVS, the heap report,
WiFi and ESP-NOW. Resets, sleep and the watchdog are board_process.py's; the serial console is
board_console.py's. Everything here runs on the world's loop unless it says otherwise.
"""

from __future__ import annotations

import asyncio
import binascii
import json
import os
import re
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from host_tools.emulator.parts import Device

STAT_IDLE, STAT_CONNECTING, STAT_GOT_IP = 1000, 1001, 1010
STAT_BEACON_TIMEOUT, STAT_NO_AP_FOUND, STAT_WRONG_PASSWORD = 200, 201, 202
# what micropython.qstr_info() prints (py/modmicropython.c)
_QSTR_INFO = re.compile(rb"qstr pool: n_pool=\d+, n_qstr=(\d+), n_str_data_bytes=(\d+), "
                        rb"n_total_bytes=(\d+)")
PM_NONE, PM_PERFORMANCE, PM_POWERSAVE = 0, 1, 2  # WLAN.PM_*: WIFI_PS_NONE / MIN / MAX_MODEM


class NoReply(Exception):
    """Raised by an op that answers later, or never (the process is about to end)."""


class OpError(Exception):
    """Raised by an op: the overlay raises `kind(arg)` in the firmware, e.g. OSError(19)."""

    def __init__(self, kind: str, arg: Any) -> None:
        super().__init__(kind, arg)
        self.kind = kind
        self.arg = arg


class ChipServices:
    """The chip's side of the control socket; a mixin of `Board`."""

    def _init_chip(self) -> None:
        self.inputs: dict[int, int | None] = {}  # levels the parts drive (None: floating)
        self.outputs: dict[int, dict[str, Any]] = {}  # what the firmware set: mode, pull, v
        self.pwm: dict[int, dict[str, Any]] = {}
        # the RTC: kept through resets and deep sleep, lost on a power cut
        self.rtc_mem = b""
        self.rtc_offset = 0
        # wifi
        self.wifi_signal = True
        self.wifi_status = STAT_IDLE
        self.wifi_want: tuple[str, str | None] | None = None
        self.espnow_on = False
        # the radio as the firmware set it (fw/network.py): STA on, WiFi channel, power save
        self.sta_active = False
        self.radio_channel = 1
        self.wifi_pm = PM_PERFORMANCE
        self.tx_frames = 0
        self.rx_frames = 0  # ESP-NOW frames handed to the firmware's receive buffer
        # how long after each boot ticks_ms wraps (fw/time.py): the chip's 12.4 days cut to
        # 15 s, so that any test longer than that runs its boards across a wrap
        self.ticks_before_wrap_ms = 15_000
        # heap: at boot, and the answer to a heap_report
        self.heap: dict[str, int] = {}
        self._heap_answer: dict[str, Any] | None = None
        self._heap_asked: list[str] | None = None  # a heap_report not yet answered
        self._heap_mark = 0  # where the console stood when it was asked
        self._sleep_after_heap: tuple[int | None] | None = None
        self._conn: asyncio.StreamWriter | None = None
        # virtual time (clock.py): until when the board said it waits (ms on the world's
        # clock, -1: for an event only), None while it works; and how many events it was
        # sent, which its idle message must have seen to count
        self._idle_until: int | None = None
        self._events_sent = 0
        self._skip_told = 0  # the skipped time the board knows (_tell_clock)
        self.blocks = 0  # how many times it said it waits: its wakes, in virtual time

    # -- the control socket ----------------------------------------------------------------
    def _attach_conn(self, writer: asyncio.StreamWriter) -> None:
        self._conn = writer
        self._events_sent = 0  # counted per connection, as the new VM counts them

    def _detach_conn(self, writer: asyncio.StreamWriter) -> None:
        if self._conn is writer:
            self._conn = None

    def _close_conn(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _event(self, ev: str, **kw: Any) -> None:
        if self._conn is None:
            return
        if ev != "clock":  # the board has something to do: it is not idle until it says so
            self._tell_clock()
            self._events_sent += 1
            self._idle_until = None
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
        if op != "idle":
            self._idle_until = None
        fn = getattr(self, f"_op_{op}", None)
        if fn is None:
            self._reply(writer, msg, err=("OSError", f"emulator: unknown op {op}"))
            return
        try:
            result = fn(msg)
        except NoReply:
            return
        except OpError as e:
            self._reply(writer, msg, err=(e.kind, e.arg))
            return
        self._reply(writer, msg, result)

    def _op_hello(self, msg: dict[str, Any]) -> dict[str, Any]:
        """The boot handshake: what the chip knows as its VM starts."""
        nvs = {}
        if self.nvs_path.exists():
            try:
                nvs = json.loads(self.nvs_path.read_text())
            except ValueError:
                nvs = {}
        cut_at, self.cut_at = self.cut_at, None
        self._skip_told = self.world.clock.skipped_ms
        return {
            "board": self.name, "cause": self.cause, "wake": self.wake,
            "mac": self.mac.hex(), "rtc_offset": self.rtc_offset,
            "rtc_mem": self.rtc_mem.hex(), "inputs": {str(k): v for k, v in self.inputs.items()},
            "nvs": nvs, "cut_at": cut_at, "skip_main": self._skip_main,
            "ticks_before_wrap_ms": self.ticks_before_wrap_ms,
            "virtual": self.world.clock.virtual, "skip_ms": self.world.clock.skipped_ms,
            "mono_ms": self.world.clock.host_ms(),
            "watch_reads": sorted({g for d in self.devices for g in d.reads_watched()}),
        }

    # -- virtual time (clock.py) -----------------------------------------------------------
    def _op_idle(self, msg: dict[str, Any]) -> None:
        """The board blocks until `until` (host ms on the world's clock, -1: an event). An
        idle that has not seen every event sent is stale: that event will wake it."""
        self.blocks += 1
        if msg.get("seen") == self._events_sent:
            self._idle_until = int(msg["until"])
            self.world.poke_clock()

    def _nudge(self) -> None:
        """Something reaches the board other than by its control socket (network bytes,
        console input): in virtual time it is sent a counted event that it ignores, so that
        the world takes it as busy, and any idle message already on its way as stale, until
        it says again that it waits."""
        if self.world.clock.virtual:
            self._event("wake")

    def _tell_clock(self) -> None:
        """Tell the board the time skipped so far, if it does not know it yet. A board is
        told lazily, as it wakes: when its deadline comes, before any event or network byte
        reaches it. Telling every board at every skip would wake them all each time."""
        skipped = self.world.clock.skipped_ms
        if self._skip_told != skipped and self._conn is not None:
            self._skip_told = skipped
            self._event("clock", skip_ms=skipped)

    # -- esp32.Partition (host_tools/emulator/partitions.py) -----------------------------------
    def _op_part_info(self, msg: dict[str, Any]) -> dict[str, Any]:
        """The table, the running app and the one the next reset boots."""
        parts = self.partitions
        boot = parts.boot_partition()
        return {"table": [p.row() for p in parts.parts], "running": parts.running,
                "boot": None if boot is None else boot.label}

    def _op_part_next(self, msg: dict[str, Any]) -> str | None:
        p = self.partitions.next_update(msg["start"])
        return None if p is None else p.label

    def _op_part_read(self, msg: dict[str, Any]) -> str:
        return self.partitions.read(msg["label"], msg["off"], msg["n"]).hex()

    def _op_part_write(self, msg: dict[str, Any]) -> None:
        self.partitions.write(msg["label"], msg["off"], bytes.fromhex(msg["data"]))

    def _op_part_erase(self, msg: dict[str, Any]) -> None:
        self.partitions.erase(msg["label"], msg["off"], msg["n"])

    def _op_part_set_boot(self, msg: dict[str, Any]) -> int:
        return self.partitions.set_boot(msg["label"])

    def _op_part_mark_valid(self, msg: dict[str, Any]) -> int:
        return self.partitions.mark_valid()

    def _chip_reset(self) -> None:
        """The MCU goes into reset or loses power: its connections drop, WiFi forgets its AP,
        its outputs float until the next boot drives them again."""
        self.link.drop_all()
        self._wifi_reset()
        self.pwm.clear()
        self.outputs.clear()
        for d in self.devices:
            d.on_reset()

    # -- pins, PWM, bitstream, ADC ---------------------------------------------------------
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

    def _op_read(self, msg: dict[str, Any]) -> None:
        """The firmware read a pin a part watches, and saw this level."""
        for d in self.devices:
            d.on_read(msg["pin"], msg["v"])

    def _drive(self, gpio: int, level: int | None) -> None:
        if self.inputs.get(gpio) == level and gpio in self.inputs:
            return
        self.inputs[gpio] = level
        if self._ext_wake(gpio, level):
            return
        if self.running:
            self._event("pin", pin=gpio, v=level)

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
        """The volts on the pin; fw/machine.py turns them into counts (attenuation, the
        calibration line, ADC2 with WiFi on)."""
        gpio = msg["pin"]
        for d in self.devices:
            v = d.analog(gpio)
            if v is not None:
                return float(v)
        return 0.0

    # -- I2C -------------------------------------------------------------------------------
    def _i2c_dev(self, msg: dict[str, Any]) -> Device | None:
        for d in self.devices:
            if d.on_i2c_bus(msg["sda"], msg["scl"]) and d.i2c_addr == msg["addr"]:
                return d
        return None

    def _op_i2c(self, msg: dict[str, Any]) -> str:
        dev = self._i2c_dev(msg)
        if dev is None:
            raise OpError("OSError", 19)  # ENODEV: nobody ACKed the address
        if msg.get("w"):
            dev.i2c_write(bytes.fromhex(msg["w"]))
        n = msg.get("r") or 0
        return dev.i2c_read(n).hex() if n else ""

    def _op_i2c_scan(self, msg: dict[str, Any]) -> list[int]:
        return sorted(d.i2c_addr for d in self.devices
                      if d.i2c_addr is not None and d.on_i2c_bus(msg["sda"], msg["scl"]))

    # -- RTC and NVS -----------------------------------------------------------------------
    def _rtc_power_on(self) -> None:
        self.rtc_mem = b""
        # RTC restarts at 2000-01-01 00:00:00 when power returns.
        self.rtc_offset = -(int(self.world.clock.time()) - 946684800)

    def _op_rtc_set(self, msg: dict[str, Any]) -> None:
        self.rtc_offset = int(msg["offset"])

    def _op_rtc_mem(self, msg: dict[str, Any]) -> None:
        self.rtc_mem = binascii.unhexlify(msg["data"])

    def _op_nvs_commit(self, msg: dict[str, Any]) -> None:
        nvs = {}
        if self.nvs_path.exists():
            nvs = json.loads(self.nvs_path.read_text())
        nvs[msg["ns"]] = msg["vals"]
        tmp = self.nvs_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(nvs))
        os.replace(tmp, self.nvs_path)

    # -- heap report (any thread, but _op_heap) --------------------------------------------
    def heap_report(self, imports: tuple[str, ...] = (), timeout: float = 10.0
                    ) -> dict[str, Any]:
        """The board's heap now, after a gc.collect(): `used` and `free` bytes, `modules` as
        [name, file, size] ("" for frozen ones), `imports`, the heap cost of importing
        each of `imports` first, and `qstr`, the table of interned names as [count, bytes
        of its pools] before each import and at the end (micropython.qstr_info). Answered
        when the board next services world events (its asyncio loop or a sleep), as the
        chip's scheduler runs between bytecodes, or, on a board that deep-sleeps first, at
        its next call to deepsleep (heap at its fullest)."""
        self.ask_heap_report(imports)
        return self.wait_heap_report(timeout)

    def ask_heap_report(self, imports: tuple[str, ...] = ()) -> None:
        """heap_report's question alone, for a board that answers only once something wakes
        it: ask, wake it, then wait_heap_report."""
        with self._cond:
            self._heap_answer = None
            self._heap_asked = list(imports)
            self._heap_mark = len(self.console)
        self.world.call_fn(lambda: self._event("heap_report", imports=list(imports)))

    def wait_heap_report(self, timeout: float = 10.0) -> dict[str, Any]:
        """The answer to the last ask_heap_report."""
        end = time.monotonic() + timeout
        with self._cond:
            while self._heap_answer is None:
                left = end - time.monotonic()
                if left <= 0:
                    self._heap_asked = None
                    self._sleep_after_heap_now()
                    raise TimeoutError(f"{self.name}: no heap report within {timeout}s")
                self._cond.wait(left)
            answer = self._heap_answer
        if "error" in answer:
            raise ValueError(f"{self.name}: heap report failed: {answer['error']}")
        answer["qstr"] = self._qstr_lines(len(answer["imports"]) + 1, end - time.monotonic())
        return answer

    def _qstr_lines(self, count: int, timeout: float) -> list[list[int]]:
        """The `count` qstr_info lines the board printed with its heap report, as [names,
        bytes of the pools]: the lines travel on the console, the answer on the socket."""
        mark = self._heap_mark
        for _ in range(count):
            mark = self.wait_output(_QSTR_INFO.pattern, max(timeout, 1.0), start=mark)
        found = _QSTR_INFO.findall(self.console_since(self._heap_mark))
        return [[int(n), int(total) - int(data)] for n, data, total in found[:count]]

    def _sleep_after_heap_now(self) -> None:
        """A board held awake in deepsleep() for an answer that will not come goes to sleep."""
        held, self._sleep_after_heap = self._sleep_after_heap, None
        if held is not None:
            self.world.loop.call_soon_threadsafe(self._sleep, held[0])

    def _op_heap(self, msg: dict[str, Any]) -> None:
        with self._cond:
            self._heap_answer = msg
            self._heap_asked = None
            self._cond.notify_all()
        if self._sleep_after_heap is not None:
            (ms,), self._sleep_after_heap = self._sleep_after_heap, None
            self.world.loop.call_soon(self._sleep, ms)

    # -- WiFi ------------------------------------------------------------------------------
    def _op_wifi_connect(self, msg: dict[str, Any]) -> None:
        self.wifi_want = (msg.get("ssid") or "", msg.get("key"))
        self.wifi_status = STAT_CONNECTING
        self.world.later(0.05, self._wifi_try)

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
            self.world.later(1.0, self._wifi_retry)

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
                self.world.later(1.0, self._wifi_retry)
        else:
            self.world.later(0.2, self._wifi_retry)

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
            raise OpError("OSError", -202)
        host, port = msg["host"], int(msg["port"])
        if msg.get("udp"):
            if port == 123:
                return ["127.0.0.1", self.world.ntp_port]
            raise OpError("OSError", -202)
        # a name may map to "ip" or to "ip:port" (a broker on another port than the config's)
        ip, _, fwd = self.world.dns.get(host, host).partition(":")
        port = int(fwd) if fwd else port
        if not re.fullmatch(r"\d+\.\d+\.\d+\.\d+", ip):
            raise OpError("OSError", -202)
        return ["127.0.0.1", self.link.proxy_port(ip, port)]

    # -- ESP-NOW ---------------------------------------------------------------------------
    def _op_espnow_active(self, msg: dict[str, Any]) -> None:
        self.espnow_on = bool(msg.get("on"))

    def _op_espnow_send(self, msg: dict[str, Any]) -> bool:
        self.tx_frames += 1
        return self.world._radio_send(self, bytes.fromhex(msg["dst"]), bytes.fromhex(msg["data"]))

    def _deliver_espnow(self, src: bytes, data: bytes, rssi: int) -> None:
        if self.running and self.espnow_on:
            self.rx_frames += 1
            self._event("espnow", src=src.hex(), data=data.hex(), rssi=rssi)
