"""`bourg demo` (`make demo`): a street of virtual boards on an MQTT broker, with live status.

Every board runs the real firmware files on the real MicroPython VM. The demo drives their
device models (buttons pressed, temperatures drifting), cuts one board's WiFi for a while to
show the event queue catching up, and draws what the broker sees. Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from . import firmware
from .emulator import Board, World
from .emulator.devices import TMP102, Led, Switch
from .mqtt_watch import Message, Watcher

SITE = "demo-town"
WIFI = ("bourg-demo", "demo-wifi-pass")
MQTT_HOST = "mqtt.demo-town.bourg"
STREET = [("ft-north", 0.0), ("ft-market", 40.0), ("ft-station", 80.0)]


@dataclass
class BoardView:
    name: str
    status: str = "-"
    events: int = 0
    last_seq: int = 0
    last_event: str = ""
    presses: int = 0
    temp: float | None = None
    queue: int | None = None
    dups: int = 0
    seen: set[int] = field(default_factory=set)


class Street:
    def __init__(self, workdir: Path, broker_host: str, broker_port: int) -> None:
        self.world = World(workdir, access_points={WIFI[0]: WIFI[1]},
                           dns={MQTT_HOST: broker_host})
        self.broker = (broker_host, broker_port)
        self.boards: dict[str, Board] = {}
        self.buttons: dict[str, Switch] = {}
        self.sensors: dict[str, TMP102] = {}
        self.views: dict[str, BoardView] = {}
        self.notes: list[str] = []
        self._lock = threading.Lock()
        self.watcher: Watcher | None = None

    def config(self, name: str, x: float) -> dict[str, Any]:
        return {
            "schema": 1, "device_id": name, "role": "fieldtest", "site": SITE,
            "board": "esp32-devkitc", "pins": {"led": 25, "button": 4, "sda": 21, "scl": 22},
            "network": {"ssid": WIFI[0], "mqtt": {"host": MQTT_HOST, "port": self.broker[1],
                                                  "keepalive": 15}},
            "app": {"tick_ms": 2000, "telemetry_ms": 3000, "tmp102_addr": 0x48},
            "emulator": {"x": x, "y": 0},
        }

    def start(self) -> None:
        self.world.start()
        self.watcher = Watcher(*self.broker, topics=(f"bourg/{SITE}/#",),
                               client_id="bourg-demo-view", on_message=self._on_message)
        for name, x in STREET:
            cfg = self.config(name, x)
            b = self.world.add_board(cfg, firmware.stage(cfg, {"wifi_password": WIFI[1]}))
            self.buttons[name] = b.attach(Switch(4))
            b.attach(Led(25))
            self.sensors[name] = b.attach(TMP102(0x48, celsius=random.uniform(8, 14)))
            self.boards[name] = b
            self.views[name] = BoardView(name)
            b.start()
        self.note(f"{len(self.boards)} boards powered on; broker {self.broker[0]}:"
                  f"{self.broker[1]}")

    def note(self, text: str) -> None:
        with self._lock:
            self.notes.append(time.strftime("%H:%M:%S ") + text)
            del self.notes[:-6]

    def _on_message(self, m: Message) -> None:
        parts = m.topic.split("/")
        if len(parts) < 4 or parts[2] not in self.views:
            return
        v = self.views[parts[2]]
        suffix = "/".join(parts[3:])
        with self._lock:
            if suffix == "status":
                v.status = m.payload.decode(errors="replace")
            elif suffix.startswith("events/"):
                try:
                    ev = json.loads(m.payload)
                except ValueError:
                    return
                if ev.get("seq") in v.seen:
                    v.dups += 1
                    return
                v.seen.add(ev.get("seq"))
                v.events += 1
                v.last_seq = max(v.last_seq, ev.get("seq") or 0)
                v.last_event = f"{ev.get('kind')} {json.dumps(ev.get('data'))}"[:34]
            elif suffix == "telemetry":
                try:
                    t = json.loads(m.payload)
                except ValueError:
                    return
                v.temp = t.get("temp_c")
                v.presses = t.get("presses", v.presses)
                v.queue = t.get("link")

    # -- scenario ---------------------------------------------------------------------------
    def step(self, t: float, rng: random.Random) -> None:
        for sensor in self.sensors.values():
            sensor.celsius += rng.uniform(-0.2, 0.2)
        if rng.random() < 0.06:
            name = rng.choice(list(self.buttons))
            self.buttons[name].press()
            time.sleep(0.08)
            self.buttons[name].release()
            self.note(f"someone pressed the button on {name}")
        if 12 <= t < 13 and not getattr(self, "_cut", False):
            self._cut = True
            self.boards["ft-market"].wifi_cut()
            self.note("ft-market loses WiFi: its events queue on flash")
        if 27 <= t < 28 and not getattr(self, "_restored", False):
            self._restored = True
            self.boards["ft-market"].wifi_restore()
            self.note("ft-market's WiFi is back: the queue drains in order")

    def render(self, t: float, tty: bool) -> str:
        rows = [f"bourg demo - {SITE} - {t:5.1f}s - Ctrl-C to stop",
                "",
                f"{'board':<11} {'power':<8} {'wifi':<5} {'mqtt':<8} {'boots':>5} "
                f"{'events':>6} {'seq':>4} {'btn':>3} {'temp':>6}  last event"]
        with self._lock:
            for name, b in self.boards.items():
                v = self.views[name]
                temp = f"{v.temp:5.1f}C" if isinstance(v.temp, (int, float)) else "   -  "
                wifi = "up" if b.wifi_signal else "CUT"
                rows.append(f"{name:<11} {b.state:<8} {wifi:<5} {v.status:<8} "
                            f"{len(b.history):>5} {v.events:>6} {v.last_seq:>4} "
                            f"{v.presses:>3} {temp:>6}  {v.last_event}")
            rows += ["", *self.notes]
        text = "\n".join(rows)
        if tty:
            width = shutil.get_terminal_size().columns
            return "\x1b[H\x1b[2J" + "\n".join(r[:width] for r in text.splitlines())
        return text + "\n"

    def close(self) -> None:
        if self.watcher:
            self.watcher.close()
        self.world.close()


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--broker", help="use this broker (mqtt://host:port) instead of the "
                   "embedded one")
    p.add_argument("--duration", type=float, default=0, help="stop after this many seconds "
                   "(default: run until Ctrl-C)")
    p.add_argument("--plain", action="store_true", help="print status snapshots instead of "
                   "redrawing the screen")
    p.add_argument("--seed", type=int, default=1)


def demo_main(args: argparse.Namespace) -> int:
    broker = None
    if args.broker:
        u = urlparse(args.broker)
        if u.scheme not in ("mqtt", "tcp") or not u.hostname:
            print(f"bourg demo: --broker wants mqtt://host:port, got {args.broker!r}",
                  file=sys.stderr)
            return 2
        host, port = u.hostname, u.port or 1883
    else:
        from .broker import EmbeddedBroker

        broker = EmbeddedBroker().start()
        host, port = broker.host, broker.port
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    tty = sys.stdout.isatty() and not args.plain
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="bourg-demo-") as d:
        street = Street(Path(d), host, port)
        try:
            street.start()
            t0 = time.monotonic()
            last_plain = -10.0
            while not stop.wait(0.5):
                t = time.monotonic() - t0
                street.step(t, rng)
                if tty:
                    sys.stdout.write(street.render(t, True))
                elif t - last_plain >= 5:
                    last_plain = t
                    sys.stdout.write(street.render(t, False) + "\n")
                sys.stdout.flush()
                if args.duration and t >= args.duration:
                    break
            if not tty:
                sys.stdout.write(street.render(time.monotonic() - t0, False))
        finally:
            street.close()
            if broker:
                broker.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bourg demo", description=__doc__)
    add_arguments(p)
    return demo_main(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
