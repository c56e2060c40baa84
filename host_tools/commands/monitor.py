"""`bourg monitor`: a live table of a site's boards from MQTT: online or not, events, latest
telemetry, why each last booted, and alarms as they come.

    bourg monitor --broker mqtt://broker.town:1883 --site demo-town \\
        --user bourg-ops --password-file ops.txt
    bourg monitor --broker mqtts://broker.town --site demo-town \\
        --ca ca.crt --cert ops.crt --key ops.key
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import threading
import time

from host_tools.commands import EXIT_BOARD, EXIT_OK, EXIT_USAGE
from host_tools.commands._args import BrokerArgsError, add_broker_arguments, broker_client
from host_tools.field.fleetview import FleetView


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_broker_arguments(p)
    p.add_argument("--site", required=True, help="the site to watch (bourg/<site>/#)")
    p.add_argument("--duration", type=float, default=0, help="stop after this many seconds")
    p.add_argument("--plain", action="store_true", help="print snapshots, no screen redraw")
    p.add_argument("--json", action="store_true", help="print the final state as JSON")


def main(args: argparse.Namespace) -> int:
    view = FleetView(args.site)
    try:
        w = broker_client(args, f"bourg-monitor-{time.time_ns()}", (f"bourg/{args.site}/#",),
                          view.on_message)
    except BrokerArgsError as e:
        print(f"bourg monitor: {e}", file=sys.stderr)
        return EXIT_USAGE
    if not w.subscribed.wait(10):
        w.close()
        print(f"bourg monitor: no answer from {args.broker} (wrong address, or the account "
              "or certificate is refused)", file=sys.stderr)
        return EXIT_BOARD
    print(f"watching bourg/{args.site}/# on {args.broker}", file=sys.stderr, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    tty = sys.stdout.isatty() and not args.plain and not args.json
    t0 = time.monotonic()
    try:
        while not stop.wait(1.0):
            t = time.monotonic() - t0
            if tty:
                width = shutil.get_terminal_size().columns
                lines = [f"bourg monitor - {args.site} - {args.broker}", "", *view.rows(),
                         "", "alarms:", *view.alarms()]
                sys.stdout.write("\x1b[H\x1b[2J" + "\n".join(x[:width] for x in lines))
                sys.stdout.flush()
            if args.duration and t >= args.duration:
                break
    finally:
        w.close()
    if args.json:
        print(view.to_json())
    elif not tty:
        print("\n".join(view.rows() + ["", "alarms:", *view.alarms()]))
    return EXIT_OK
