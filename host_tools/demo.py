"""`bourg demo` (`make demo`): a street of virtual boards on an MQTT broker, with live status.

Every board runs the real firmware files on the real MicroPython VM, provisioned and deployed
over its serial port as a technician would. Three field-test boards have buttons pressed and
temperatures drifting, and one loses WiFi for a while to show the event queue catching up. Six
street-light poles light up ahead of a cyclist riding along the street, again and again; their
lamps are drawn as a strip, with the rider's position under it. A shop's parcel goes into
the locker bank and out again with the code from the SMS, over and over, one compartment after
another. The parking sensors are ESP-NOW nodes with no MQTT of their own: their rows show
"espnow" and the bay events the totem publishes for them. Ctrl-C stops everything.

Each step of the locker story waits for the bank to say what it saw (its audit events over
MQTT: a door opened, a compartment armed), not for a fixed time; the pauses between steps are
for a person watching, and `pace` 0 (`bourg demo --fast`, the tests) leaves them out.

The town console (bourg_console) runs beside the street on the same broker: its URL and the
operator account the demo makes are printed at the top, so a newcomer can watch the lights,
the car park and the locker bank from a browser.

`play()` runs the whole demo (broker, street, console, status on the screen); `bourg demo`
only reads its arguments and calls it.
"""

from __future__ import annotations

import json
import random
import shutil
import sys
import tempfile
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any, TextIO

from host_tools.emulator import Board, World
from host_tools.emulator.parts import TMP102, Switch
from host_tools.field.fleetview import BoardView, FleetView
from host_tools.field.mqtt_watch import Message, Watcher
from host_tools.testing.rigs.by_role import attach_fieldtest

SITE = "demo-town"
WIFI = ("bourg-demo", "demo-wifi-pass")
MQTT_HOST = "mqtt.demo-town.bourg"
# The demo is a lab on one machine: its boards talk plain MQTT to the embedded broker (or the
# one given), which is said in each config; a town's boards talk TLS (docs/field-tools.md).
DEMO_TLS = False
STREET = [("ft-north", 0.0), ("ft-market", 40.0), ("ft-station", 80.0)]
POLES = [(f"pole-{i + 1:02d}", i * 30.0) for i in range(6)]
# the car park: four bays in two zones and their totem, by the market
PARK = [("ps-a1", 1, "A1", "A", "qmc"), ("ps-a2", 2, "A2", "A", "hmc"),
        ("ps-a3", 3, "A3", "A", "qmc"), ("ps-b1", 4, "B1", "B", "lis")]
TOTEM = "totem-market"
SENSOR_OF_BAY = {bay: name for name, _n, bay, _z, _c in PARK}
PARK_Y = -300.0
POLE_Y = 300.0  # the lit street runs apart from the field-test boards
SENSOR_RANGE_M = 10.0
RIDER_MPS = 6.0
GLYPHS = " ▁▂▃▄▅▆▇█"
LOCKER_PAUSE_S = 8.0  # between two runs of the locker story
SMS_READ_S = 6.0  # the customer reading the SMS before typing its code
DOOR_HELD_S = 2.0  # a door held open at least this long (a parcel in or out)
WIFI_CUT_S = (12.0, 27.0)  # ft-market's WiFi is cut from, and back at, these seconds
STREET_FIRST_S = 6.0  # the street is shown alone this long before the locker story starts
LOCK_WAIT_S = 5.0  # how long the story waits for the bank to pulse a lock after the code
BANK_WAIT_S = 15.0  # how long the story waits for the bank to say what it saw
LOCKER = "locker-market"


class Street:
    """The demo street: blank virtual boards that are provisioned and deployed exactly as a
    technician would do it (registry, then `bourg deploy` over each board's serial port)."""

    def __init__(self, workdir: Path, broker_host: str, broker_port: int,
                 pace: float = 1.0) -> None:
        self.workdir = workdir
        self.pace = pace  # the scale of the pauses a person watching needs (0: none)
        # ft-market's WiFi cut: from 12 to 27 s, or from 4 to 9 s when fast (the queue it
        # fills on flash must still drain for the tests to see)
        self.wifi_cut = tuple(at * max(pace, 1 / 3) for at in WIFI_CUT_S)
        self.world = World(workdir / "world", access_points={WIFI[0]: WIFI[1]},
                           dns={MQTT_HOST: broker_host})
        self.broker = (broker_host, broker_port)
        self.boards: dict[str, Board] = {}
        self.configs: dict[str, dict[str, Any]] = {}  # each board's config, as deployed
        self.roles: dict[str, str] = {}
        self.buttons: dict[str, Switch] = {}
        self.sensors: dict[str, TMP102] = {}
        self.view = FleetView(SITE)
        self.notes: list[str] = []  # the last few, for the redrawn screen
        self._unprinted: list[str] = []  # every note since the last plain snapshot
        self.plain = True  # a plain log (snapshots), not a screen redrawn in place
        self._lock = threading.Lock()
        self.watcher: Watcher | None = None
        self.lamps: dict[str, Any] = {}
        self.pirs: dict[str, Any] = {}
        self.rider: float | None = None
        self.mags: dict[str, Any] = {}
        self.parked: dict[str, bool] = {}
        self.park_since: dict[str, float] = {}
        self.displays: dict[str, Any] = {}
        self.leds: Any = None  # the totem's guidance LEDs (a WS2812 strip), one per bay
        self.keypad: Any = None
        self.locks: dict[int, Any] = {}
        self.bank: Any = None  # the market's locker bank (rigs.bank.Bank): its doors
        self.locker_log: list[str] = []
        self._locker_thread: threading.Thread | None = None
        self._closing = threading.Event()
        self._relayed: set[int] = set()  # seqs of the totem's bay events already counted
        # (seq, ev, comp, t) of the bank's last audit events, each once (delivered at least
        # once), t on the bank's clock, which keeps the town's
        self._bank_audit: deque[tuple[int, str, Any, int]] = deque(maxlen=64)
        self._bank_heard = threading.Condition()
        self._bank_mark = 0  # where the bank's console was before its app was deployed
        self.console_line = ""  # where the town console is, and how to log in
        for name, *_ in PARK:  # ESP-NOW nodes: never on MQTT themselves
            self.view.boards[name] = BoardView(name, status="espnow")

    def pole_config(self, name: str, x: float) -> dict[str, Any]:
        from host_tools.testing.rigs.street import PINS

        return {
            "schema": 1, "device_id": name, "role": "lighting", "site": SITE,
            "board": "esp32-devkitc", "pins": dict(PINS),
            "network": {"ssid": WIFI[0], "mqtt": {"host": MQTT_HOST, "port": self.broker[1],
                                                  "keepalive": 15, "tls": DEMO_TLS}},
            "app": {"x_m": x, "lat": 48.85, "lon": 2.35,
                    "profile": {"utc_offset_min": 60, "dst": "eu", "periods": [
                        {"name": "night", "start": "sunset", "end": "sunrise", "base": 10,
                         "presence": 100}]},
                    "wave": {"spacing_m": 30, "nb_level": 50, "ahead_level": 70},
                    "dimmer": {"hold_ms": 4000, "ramp_down_ms": 1500},
                    "state_ms": 5000, "energy_ms": 10000},
            "emulator": {"x": x, "y": POLE_Y},
        }

    def config(self, name: str, x: float) -> dict[str, Any]:
        return {
            "schema": 1, "device_id": name, "role": "fieldtest", "site": SITE,
            "board": "esp32-devkitc", "pins": {"led": 25, "button": 4, "sda": 21, "scl": 22},
            "network": {"ssid": WIFI[0], "mqtt": {"host": MQTT_HOST, "port": self.broker[1],
                                                  "keepalive": 15, "tls": DEMO_TLS}},
            "app": {"tick_ms": 2000, "telemetry_ms": 3000, "tmp102_addr": 0x48},
            "emulator": {"x": x, "y": 0},
        }

    def start(self) -> None:
        """Power on the street's blank boards with their peripherals, register them and
        deploy each its app over its serial port, as a technician would."""
        from host_tools.testing.rigs.street import night_offset

        self.world.wall_offset_s = night_offset(22.0)  # the poles' clocks say 22:00
        self.world.start()
        self.watcher = Watcher(*self.broker, topics=(f"bourg/{SITE}/#",),
                               client_id="bourg-demo-view", on_message=self.on_message)
        self._add_fieldtest_boards()
        self._add_poles()
        self._add_car_park()
        self._add_locker()
        self._bank_mark = self.boards[LOCKER].console_mark()
        self._provision_and_deploy()

    def _add_board(self, name: str, cfg: dict[str, Any], role: str) -> Board:
        """A freshly flashed board (MicroPython, empty filesystem) that will run `cfg`."""
        self.configs[name] = cfg
        self.roles[name] = role
        b = self.boards[name] = self.world.add_board(cfg, {})
        return b

    def _on_site_network(self, cfg: dict[str, Any], x: float, y: float) -> dict[str, Any]:
        cfg["site"] = SITE
        cfg["network"] = {"ssid": WIFI[0], "mqtt": {"host": MQTT_HOST, "port": self.broker[1],
                                                    "keepalive": 15, "tls": DEMO_TLS}}
        cfg["emulator"] = {"x": x, "y": y}
        return cfg

    def _add_fieldtest_boards(self) -> None:
        for name, x in STREET:
            cfg = self.config(name, x)
            b = self._add_board(name, cfg, "fieldtest")
            ft = attach_fieldtest(b, cfg, celsius=random.uniform(8, 14))
            assert ft.button is not None and ft.sensor is not None
            self.buttons[name], self.sensors[name] = ft.button, ft.sensor
            b.start()

    def _add_poles(self) -> None:
        from host_tools.testing.rigs.street import attach_pole

        for name, x in POLES:
            cfg = self.pole_config(name, x)
            b = self._add_board(name, cfg, "lighting")
            pole = attach_pole(b, cfg, lux=1.0)
            self.lamps[name], self.pirs[name] = pole.lamp, pole.pir
            b.start()

    def _add_car_park(self) -> None:
        from host_tools.testing.rigs.lot import (
            GUIDANCE_PIN,
            attach_sensor,
            attach_totem,
            sensor_config,
            totem_config,
        )

        for i, (name, node, bay, _zone, chip) in enumerate(PARK):
            cfg = sensor_config(name, node, 40.0 + 3 * i, heartbeat_s=60,
                                mag_int=chip == "lis")
            cfg["site"] = SITE
            cfg["emulator"]["y"] = PARK_Y
            b = self._add_board(name, cfg, "parking_sensor")
            self.mags[bay] = attach_sensor(b, cfg, chip)  # "lis" wakes on change
            self.parked[bay] = False
            self.park_since[bay] = -20.0
            b.start()
        spec = [{"node": node, "device": name, "bay": bay, "zone": zone}
                for name, node, bay, zone, _c in PARK]
        cfg = totem_config(
            TOTEM, spec, port=self.broker[1], heartbeat_s=60,
            guidance={"pin": GUIDANCE_PIN, "bays": [bay for _n, _i, bay, _z, _c in PARK]},
            rows=[["A1", "A2", "A3"], ["B1"]])  # side by side: the nodes may ask
        b = self._add_board(TOTEM, self._on_site_network(cfg, 45.0, PARK_Y + 5),
                            "parking_totem")
        self.displays, self.leds = attach_totem(b, cfg)
        b.start()

    def _add_locker(self) -> None:
        from host_tools.testing.rigs.bank import attach_bank, bank_config

        name = "locker-market"
        cfg = self._on_site_network(bank_config(name, port=self.broker[1]), 60.0, PARK_Y + 10)
        b = self._add_board(name, cfg, "locker")
        bank = attach_bank(b, cfg)
        self.keypad, self.locks, self.bank = bank.keypad, bank.locks, bank
        b.start()

    def _provision_and_deploy(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        from host_tools.field.deploy import deploy
        from host_tools.field.provision import compartments_of, read_unique_id
        from host_tools.field.registry import Registry

        configs = self.configs
        with Registry(self.workdir / "registry.sqlite") as reg:
            reg.set_site(SITE, WIFI[0], WIFI[1])
            for name, b in self.boards.items():
                b.wait_boot()
                reg.add(name, self.roles[name], SITE, unique_id=read_unique_id(b.pty_path),
                        location=f"{configs[name]['emulator']['x']:.0f} m along the street",
                        compartments=compartments_of(configs[name]))
            secrets = {name: reg.secrets(name) for name in self.boards}
            for name, _n, _b, _z, _c in PARK:
                secrets[name]["wifi_password"] = ""  # sensors never join WiFi
        self.note("provisioned " + ", ".join(self.boards) + " in the device registry")
        with ThreadPoolExecutor(3) as pool:
            plans = dict(zip(self.boards, pool.map(
                lambda n: deploy(self.boards[n].pty_path, configs[n], secrets[n]),
                self.boards), strict=True))
        for name, plan in plans.items():
            self.note(f"deployed {len(plan.copy)} files to {name} over its serial port")

    def note(self, text: str) -> None:
        with self._lock:
            self.notes.append(time.strftime("%H:%M:%S ") + text)
            if self.plain:
                self._unprinted.append(self.notes[-1])
            del self.notes[:-6]

    def on_message(self, m: Message) -> None:
        self.view.on_message(m)
        if m.topic == f"bourg/{SITE}/{TOTEM}/events/bay":
            self._relay(m.payload)
        elif m.topic == f"bourg/{SITE}/{LOCKER}/events/audit":
            self._heard_audit(m.payload)

    def _heard_audit(self, payload: bytes) -> None:
        """The bank's audit events, which the locker story waits on: it goes on when the bank
        says what it saw (a door opened, a compartment armed), not after a fixed time."""
        try:
            event = json.loads(payload)
            data = event["data"]
            entry = (int(event["seq"]), str(data["ev"]), data.get("comp"), int(data["t"]))
        except (ValueError, KeyError, TypeError):
            return
        with self._bank_heard:
            if all(e[0] != entry[0] for e in self._bank_audit):
                self._bank_audit.append(entry)
                self._bank_heard.notify_all()

    def _bank_says(self, ev: str, n: int, since: float) -> bool:
        """Whether the bank publishes audit event `ev` for compartment n, dated `since` (the
        town's time) or later, within BANK_WAIT_S, or the demo closes first. Dated: an
        event of an earlier story that came late (its link was down) is not this one's."""
        end = time.monotonic() + BANK_WAIT_S
        with self._bank_heard:
            while not any((e[1], e[2]) == (ev, n) and e[3] >= since for e in self._bank_audit):
                left = end - time.monotonic()
                if left <= 0 or self._closing.is_set():
                    return False
                self._bank_heard.wait(min(left, 0.2))
        return True

    def _relay(self, payload: bytes) -> None:
        """A parking sensor is an ESP-NOW node with no MQTT of its own: what the site sees of
        it is the totem's `bay` events, counted on the sensor's row (once per event, as the
        link delivers at least once)."""
        try:
            ev = json.loads(payload)
            seq, data = ev["seq"], ev["data"]
            name = SENSOR_OF_BAY[data["bay"]]
        except (ValueError, KeyError, TypeError):
            return
        if seq in self._relayed:
            return
        self._relayed.add(seq)
        state = "silent" if data.get("silent") else "car" if data.get("occupied") else "free"
        with self.view.lock:
            v = self.view.boards.setdefault(name, BoardView(name, status="espnow"))
            v.events += 1
            v.last_event = f"via {TOTEM}: bay {data['bay']} {state}"

    # -- scenario ---------------------------------------------------------------------------
    def ride(self, t: float) -> None:
        """A rider crosses the street every 45 s, from 20 m before the first pole to 20 m
        past the last; each pole's sensor sees it within SENSOR_RANGE_M."""
        length = POLES[-1][1] + 40.0
        phase = (t - 6.0) % 45.0 if t >= 6.0 else None
        x = None if phase is None or phase * RIDER_MPS > length else phase * RIDER_MPS - 20.0
        if x is not None and self.rider is None:
            self.note("a cyclist rides down the lit street")
        self.rider = x
        for name, px in POLES:
            pir = self.pirs[name]
            on = x is not None and abs(x - px) <= SENSOR_RANGE_M
            if on != pir.closed:
                pir.detect(on)

    def strip(self) -> list[str]:
        """The street seen from above: one glyph per lamp (its light level) and the rider."""
        names = levels = lamps = ""
        for name, _x in POLES:
            lvl = self.lamps[name].level
            glyph = GLYPHS[min(len(GLYPHS) - 1, int(round(lvl * (len(GLYPHS) - 1))))]
            names += f"{'P' + name[-2:]:^6}"
            levels += f"{lvl * 100:>4.0f}% "
            lamps += f"{glyph * 3:^6}"
        rider = [" "] * len(lamps)
        if self.rider is not None:
            pos = int(round(self.rider / 30.0 * 6 + 2.5))
            if 0 <= pos < len(rider):
                rider[pos] = "o"
        pad = " " * 23
        # the poles' own local time (CET, EU summer time: 23:00 in summer, 22:00 in winter)
        from host_tools.lighting import fw as lighting_fw

        minute = lighting_fw.load("tzrule").local(int(self.world.wall_time()), 60, "eu")[3]
        clock = f"{minute // 60:02d}:{minute % 60:02d}"
        return [f"street lights ({clock})  {names}", pad + levels, pad + lamps,
                pad + "".join(rider)]

    def locker_loop(self) -> None:
        """The locker story again and again, a pause between runs, each time on the next
        compartment (the shop's first parcel goes in compartment 2). A compartment takes two
        deposit codes a day: when today's are all used, the story says so and waits for the
        town's next day (00:00 UTC), as a shop would."""
        from host_tools.locker.issue import IssueError

        nums = sorted(self.locks)
        i = nums.index(2) if 2 in nums else 0
        if not self._bank_clock_set():
            return
        while not self._closing.is_set():
            try:
                self.locker_story(nums[i % len(nums)])
            except IssueError as e:
                self._locker_say(f"no new code ({e}); waiting for the next day")
                day = int(self.world.wall_time()) // 86400
                while int(self.world.wall_time()) // 86400 == day:
                    if self._closing.wait(30):
                        return
            except Exception as e:  # noqa: BLE001 - the demo goes on without its locker
                if not self._closing.is_set():
                    self._locker_say(f"the locker story stopped: {e}")
                return
            i += 1
            self._closing.wait(LOCKER_PAUSE_S * self.pace)

    def _bank_clock_set(self) -> bool:
        """Wait until the bank has set its clock (codes are checked on it), saying so once if
        that takes a while; False if the demo closes first."""
        waited = 0
        while not self._closing.is_set():
            try:
                self.boards[LOCKER].wait_output("NTP sync ok", 0.5, start=self._bank_mark)
                return True
            except TimeoutError:
                waited += 1
                if waited == 20:
                    self._locker_say("waiting for the bank to set its clock (NTP)")
        return False

    def _locker_say(self, text: str) -> None:
        self.locker_log.append(text)
        del self.locker_log[:-3]
        self.note("locker: " + text)

    def locker_story(self, n: int) -> None:
        """A shop drops a parcel in compartment n of the market's locker bank and the
        customer picks it up with the code from the SMS, all on the virtual keypad."""
        from host_tools.field.registry import Registry
        from host_tools.locker.issue import CodeBook
        from host_tools.locker.sms import Outbox

        say = self._locker_say
        with Registry(self.workdir / "registry.sqlite") as reg:
            book = CodeBook(reg)
            now = self.world.wall_time()  # the town's clock, which the bank keeps
            # a deposit window ends at 00:00 UTC: after 23:00 an hour would reach past it
            dep = book.issue(LOCKER, n, "deposit", now,
                             min(1.0, book.hours_left("deposit", now)))
            say(f"the shop types its deposit code for compartment {n}")
            self.keypad.type(dep.code + "#", hold_s=0.13, gap_s=0.1)
            if not self._unlocked(n):
                if not self._closing.is_set():
                    say(f"compartment {n} did not unlock for the shop's code")
                return
            if not self._through_door(n, "armed"):
                return
            say(f"parcel in, door shut: compartment {n} armed")
            pick = book.issue(LOCKER, n, "pickup", now, 48)
            outbox = self.workdir / "sms"
            book.send(pick, "+33612345678", "en", Outbox(outbox), place="Market square")
            sms = json.loads((outbox / "outbox.jsonl").read_text().splitlines()[-1])
            say(f"SMS to {sms['to']}: {sms['text']}")
            self._closing.wait(SMS_READ_S * self.pace)
            typed = sms["text"].split("Code: ")[1].split("#")[0]
            say("the customer types the code from the SMS")
            self.keypad.type(typed + "#", hold_s=0.13, gap_s=0.1)
            if not self._unlocked(n):
                if not self._closing.is_set():
                    say(f"compartment {n} did not unlock for the customer's code")
                return
            if not self._through_door(n, "freed"):
                return
            say(f"compartment {n} opened once ({len(self.locks[n].pulses)} unlocks in "
                "all) and is free again")

    def _unlocked(self, n: int, timeout: float = LOCK_WAIT_S) -> bool:
        """Whether compartment n's lock is released within `timeout`: the bank checks the
        code once '#' is read and then pulses the lock, later on a loaded host."""
        end = time.monotonic() + timeout
        while not self.locks[n].unlocked():
            if time.monotonic() >= end or self._closing.wait(0.05):
                return False
        return True

    def _through_door(self, n: int, shut: str) -> bool:
        """The door pulled open, held until the bank has seen it open (and DOOR_HELD_S, for
        whoever watches), and pushed shut until the bank says `shut` ("armed", "freed");
        False, said on the story's line, if the bank did not see one or the other."""
        mark = int(self.world.wall_time()) - 1  # the bank's clock counts whole seconds
        self.bank.open_door(n)
        opened = self._bank_says("opened", n, mark)
        self._closing.wait(DOOR_HELD_S * self.pace)
        self.bank.close_door(n)
        if not opened:
            what = "opened"
        elif not self._bank_says(shut, n, mark):
            what = shut
        else:
            return True
        if not self._closing.is_set():
            self._locker_say(f"no word from the bank within {BANK_WAIT_S:.0f} s that "
                             f"compartment {n} was {what} (its MQTT link?)")
        return False

    def car_park(self) -> list[str]:
        """The totem's displays (what drivers read) beside the bays as they really are."""
        zones = sorted({z for _n, _i, _b, z, _c in PARK})
        shown = "   ".join(f"zone {z}: [{self.displays[z].text}] free" for z in zones)
        bays = " ".join(f"{bay}:{'car' if self.parked[bay] else '---'}"
                        for _n, _i, bay, _z, _c in PARK)
        lamp = {"green": "free", "red": "taken", "off": "dark"}
        leds = " ".join(f"{bay}:{lamp.get(n, n):<5}"
                        for (_n, _i, bay, _z, _c), n in zip(PARK, self.leds.names(), strict=True))
        return [f"car park totem-market  {shown}", f"                       bays  {bays}",
                f"                       LEDs  {leds}"]

    def step(self, t: float, rng: random.Random) -> None:
        if t > STREET_FIRST_S * self.pace and self._locker_thread is None:
            self._locker_thread = threading.Thread(target=self.locker_loop, daemon=True)
            self._locker_thread.start()
        for sensor in self.sensors.values():
            sensor.celsius += rng.uniform(-0.2, 0.2)
        if rng.random() < 0.06:
            name = rng.choice(list(self.buttons))
            self.buttons[name].press()
            time.sleep(0.08)
            self.buttons[name].release()
            self.note(f"someone pressed the button on {name}")
        calm = [b for b, since in self.park_since.items() if t - since > 25]
        if t > 10 and calm and rng.random() < 0.08:
            bay = rng.choice(calm)  # a bay keeps its car (or its emptiness) 25 s at least
            car = not self.parked[bay]
            self.parked[bay] = car
            self.park_since[bay] = t
            from host_tools.testing.rigs.lot import CAR_UT, EARTH_UT

            self.mags[bay].field_ut = tuple(e + (c if car else 0.0)
                                            for e, c in zip(EARTH_UT, CAR_UT, strict=True))
            self.note(f"a car {'parks in' if car else 'leaves'} bay {bay}")
        if self.wifi_cut[0] <= t and not getattr(self, "_cut", False):
            self._cut = True
            self.boards["ft-market"].wifi_cut()
            self.note("ft-market loses WiFi: its events queue on flash")
        if self.wifi_cut[1] <= t and not getattr(self, "_restored", False):
            self._restored = True
            self.boards["ft-market"].wifi_restore()
            self.note("ft-market's WiFi is back: the queue drains in order")

    def render(self, t: float, tty: bool) -> str:
        """The screen: redrawn in place on a terminal (the last notes under it), or a plain
        snapshot carrying every note since the one before, so a log loses none."""
        extra = {n: {"power": b.state, "wifi": "up" if b.wifi_signal else "CUT"}
                 for n, b in self.boards.items()}
        with self._lock:
            notes = list(self.notes)
            if not tty:
                notes, self._unprinted = self._unprinted, []
        rows = [f"bourg demo - {SITE} - {t:5.1f}s - Ctrl-C to stop",
                *([self.console_line] if self.console_line else []), "",
                *self.view.rows(extra), "", *self.strip(), "", *self.car_park(), "",
                *[f"locker-market          {x}" for x in self.locker_log[-2:]], "", *notes]
        text = "\n".join(rows)
        if tty:
            width = shutil.get_terminal_size().columns
            return "\x1b[H\x1b[2J" + "\n".join(r[:width] for r in text.splitlines())
        return text + "\n"

    def close(self) -> None:
        self._closing.set()
        if self.watcher:
            self.watcher.close()
        self.world.close()


def start_console(street: Street, port: int) -> Any:
    """The town console on the street's broker, its database and SMS outbox in the street's
    folder, locker codes from the street's registry, an operator account `demo` with a fresh
    password; on `port`, or a free one when that is 0 or taken. Alarms come quickly here: a
    board is polled every 5 s and called offline after two polls unanswered."""
    import json as json_
    import os
    import secrets
    import socket

    from bourg_console.codedesk import CodeDesk
    from bourg_console.ingest import Broker
    from bourg_console.service import Console
    from host_tools.field.mosquitto import free_port

    if port:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                port = 0
    port = port or free_port()
    sms = street.workdir / "console-sms.json"
    sms.write_text(json_.dumps({"provider": "outbox", "dir": str(street.workdir / "sms")}))
    # a client id and a clean session of its own: on a town's broker (--broker) the demo
    # must not take over a real console's session and the messages queued for it
    console = Console(str(street.workdir / "console.sqlite"), Broker(*street.broker), SITE,
                      port=port, poll_s=5.0, missed=2,
                      desk=CodeDesk(street.workdir / "registry.sqlite", sms),
                      max_stay_s={"A": 300.0, "B": 300.0},
                      client_id=f"bourg-demo-console-{os.getpid()}", persistent=False)
    try:
        password = secrets.token_urlsafe(12)
        console.accounts.add_user("demo", "operator", password, time.time())
        console.start()
        end = time.monotonic() + 20
        while not console.serving():
            if time.monotonic() > end:
                raise OSError(f"the console did not start serving on port {port}")
            time.sleep(0.05)
    except Exception:
        console.stop()
        raise
    street.console_line = (f"town console: http://127.0.0.1:{port}/  "
                           f"(log in as demo, password {password})")
    return console


def play(broker: tuple[str, int] | None, stop: threading.Event, *, duration: float = 0.0,
         redraw: bool = False, seed: int = 1, out: TextIO | None = None,
         console_port: int | None = 8080, pace: float = 1.0) -> None:
    """Run the demo street until `stop` is set or `duration` seconds have passed (0: until
    stop), on `broker` (host, port) or, when None, on an embedded broker started for it. The
    boards live in a temporary folder, so nothing of a run is left behind. Status goes to
    `out` (stdout): redrawn in place when `redraw`, else as a snapshot every 5 s and one at
    the end. The town console serves on `console_port` (0: a free port; None: no console).
    `pace` scales the pauses left for a person watching (0: none, for tests)."""
    out = sys.stdout if out is None else out
    embedded = None
    if broker is None:
        from host_tools.testing.broker import EmbeddedBroker

        embedded = EmbeddedBroker().start()
        broker = (embedded.host, embedded.port)
    try:
        with tempfile.TemporaryDirectory(prefix="bourg-demo-") as d:
            street = Street(Path(d), *broker, pace=pace)
            street.plain = not redraw
            console = None
            try:
                street.start()
                if console_port is not None:
                    try:
                        console = start_console(street, console_port)
                        out.write(street.console_line + "\n")
                    except OSError as e:
                        out.write(f"the town console did not start ({e}); the street runs "
                                  "without it\n")
                    out.flush()
                _run(street, stop, duration, redraw, random.Random(seed), out)
            finally:
                if console is not None:
                    console.stop()
                street.close()
    finally:
        if embedded:
            embedded.stop()


def _run(street: Street, stop: threading.Event, duration: float, redraw: bool,
         rng: random.Random, out: TextIO) -> None:
    """The demo's clock: the rider moves every 0.1 s (a pole's sensor must see it pass), the
    scenario steps every 0.5 s, and a redrawn screen follows every 0.2 s so the lamps' ramps
    look smooth; a plain log gets one snapshot every 5 s, to stay readable."""
    t0 = time.monotonic()
    last_plain = -10.0
    ticks = 0
    while not stop.wait(0.1):
        t = time.monotonic() - t0
        street.ride(t)
        ticks += 1
        if ticks % 5:
            if redraw and ticks % 2 == 0:
                out.write(street.render(t, True))
                out.flush()
            continue
        street.step(t, rng)
        if redraw:
            out.write(street.render(t, True))
        elif t - last_plain >= 5:
            last_plain = t
            out.write(street.render(t, False) + "\n")
        out.flush()
        if duration and t >= duration:
            break
    if not redraw:
        out.write(street.render(time.monotonic() - t0, False))
