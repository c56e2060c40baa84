"""`bourg demo`: a street of virtual boards on an embedded broker, with live status (the street
and its run: host_tools.demo)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from urllib.parse import urlparse

from host_tools.commands import EXIT_OK, EXIT_USAGE
from host_tools.demo import play


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--broker", help="use this broker (mqtt://host:port) instead of the "
                   "embedded one")
    p.add_argument("--duration", type=float, default=0, help="stop after this many seconds "
                   "(default: run until Ctrl-C)")
    p.add_argument("--plain", action="store_true", help="print status snapshots instead of "
                   "redrawing the screen")
    p.add_argument("--console-port", type=int, default=8080,
                   help="serve the town console on this port (0: any free port; default "
                   "%(default)s, or a free one when it is taken)")
    p.add_argument("--no-console", action="store_true", help="run the street without the "
                   "town console")
    p.add_argument("--fast", action="store_true", help="leave out the pauses a person "
                   "watching needs: the locker story starts at once and goes on as soon as "
                   "the bank has seen each step, and ft-market's WiFi cut comes sooner and "
                   "is shorter (for tests)")
    p.add_argument("--seed", type=int, default=1,
                   help="seed of the button presses and cars (default %(default)s)")


def main(args: argparse.Namespace) -> int:
    broker = None
    if args.broker:
        u = urlparse(args.broker)
        if u.scheme not in ("mqtt", "tcp") or not u.hostname:
            print(f"bourg demo: --broker wants mqtt://host:port, got {args.broker!r}",
                  file=sys.stderr)
            return EXIT_USAGE
        broker = (u.hostname, u.port or 1883)
    stop = threading.Event()  # Ctrl-C and a kill end the demo cleanly: boards, broker, files
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    if not 0 <= args.console_port < 65536:
        print(f"bourg demo: --console-port wants 0..65535, got {args.console_port}",
              file=sys.stderr)
        return EXIT_USAGE
    play(broker, stop, duration=args.duration, redraw=sys.stdout.isatty() and not args.plain,
         seed=args.seed, out=sys.stdout,
         console_port=None if args.no_console else args.console_port,
         pace=0.0 if args.fast else 1.0)
    return EXIT_OK
