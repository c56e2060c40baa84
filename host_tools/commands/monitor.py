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
import ssl
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

from host_tools.commands import EXIT_BOARD, EXIT_OK, EXIT_USAGE
from host_tools.field.fleetview import FleetView
from host_tools.field.mosquitto import TLS_PORT
from host_tools.field.mqtt_watch import ClientTls, Watcher


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--broker", required=True,
                   help="mqtt://host:port, or mqtts://host:port (TLS, port 8883 by default) "
                   "with --ca, --cert and --key")
    p.add_argument("--site", required=True, help="the site to watch (bourg/<site>/#)")
    p.add_argument("--user", help="MQTT user (the ops account reads bourg/#)")
    p.add_argument("--password-file", type=Path, help="file holding the MQTT password")
    p.add_argument("--ca", type=Path, help="the site's CA certificate (ca.crt, from bourg "
                   "provision mosquitto --tls-host)")
    p.add_argument("--cert", type=Path, help="your certificate (ops.crt)")
    p.add_argument("--key", type=Path, help="your certificate's key (ops.key)")
    p.add_argument("--duration", type=float, default=0, help="stop after this many seconds")
    p.add_argument("--plain", action="store_true", help="print snapshots, no screen redraw")
    p.add_argument("--json", action="store_true", help="print the final state as JSON")


def main(args: argparse.Namespace) -> int:
    u = urlparse(args.broker)
    if u.scheme not in ("mqtt", "tcp", "mqtts") or not u.hostname:
        print(f"bourg monitor: --broker wants mqtt://host:port or mqtts://host:port, got "
              f"{args.broker!r}", file=sys.stderr)
        return EXIT_USAGE
    tls = None
    given = [f"--{n}" for n in ("ca", "cert", "key") if getattr(args, n) is not None]
    if u.scheme != "mqtts" and given:
        print(f"bourg monitor: {' '.join(given)} are for TLS: use mqtts://{u.netloc}",
              file=sys.stderr)
        return EXIT_USAGE
    if u.scheme == "mqtts":
        missing = [f"--{n}" for n in ("ca", "cert", "key") if getattr(args, n) is None]
        if missing:
            print(f"bourg monitor: mqtts:// needs {' '.join(missing)} too", file=sys.stderr)
            return EXIT_USAGE
        tls = ClientTls(args.ca, args.cert, args.key)
    try:
        password = args.password_file.read_text().strip() if args.password_file else None
    except OSError as e:
        print(f"bourg monitor: cannot read the --password-file {args.password_file}: "
              f"{e.strerror}", file=sys.stderr)
        return EXIT_USAGE
    view = FleetView(args.site)
    try:
        w = Watcher(u.hostname, u.port or (TLS_PORT if tls else 1883),
                    topics=(f"bourg/{args.site}/#",), user=args.user, password=password,
                    client_id=f"bourg-monitor-{time.time_ns()}", on_message=view.on_message,
                    tls=tls)
    except (OSError, ssl.SSLError) as e:  # unreadable or unusable --ca/--cert/--key
        print(f"bourg monitor: cannot use the TLS files ({e})", file=sys.stderr)
        return EXIT_USAGE
    if not w.subscribed.wait(10):
        w.close()
        print(f"bourg monitor: no answer from {args.broker} (wrong address, or the account "
              f"{'or certificate ' if tls else ''}is refused)", file=sys.stderr)
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
