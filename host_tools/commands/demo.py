"""`bourg demo`: a street of virtual boards on an embedded broker, with live status (the street:
host_tools.demo)."""

from __future__ import annotations

import argparse
import random
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

from host_tools.demo import Street


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--broker", help="use this broker (mqtt://host:port) instead of the "
                   "embedded one")
    p.add_argument("--duration", type=float, default=0, help="stop after this many seconds "
                   "(default: run until Ctrl-C)")
    p.add_argument("--plain", action="store_true", help="print status snapshots instead of "
                   "redrawing the screen")
    p.add_argument("--seed", type=int, default=1,
                   help="seed of the button presses and cars (default %(default)s)")


def main(args: argparse.Namespace) -> int:
    broker = None
    if args.broker:
        u = urlparse(args.broker)
        if u.scheme not in ("mqtt", "tcp") or not u.hostname:
            print(f"bourg demo: --broker wants mqtt://host:port, got {args.broker!r}",
                  file=sys.stderr)
            return 2
        host, port = u.hostname, u.port or 1883
    else:
        from host_tools.testing.broker import EmbeddedBroker

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
            ticks = 0
            while not stop.wait(0.1):
                t = time.monotonic() - t0
                street.ride(t)
                ticks += 1
                if ticks % 5:
                    if tty and ticks % 2 == 0:
                        sys.stdout.write(street.render(t, True))
                        sys.stdout.flush()
                    continue
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
