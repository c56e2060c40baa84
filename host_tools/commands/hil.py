"""`bourg hil`: run the HIL tests on a real board (--port) or on virtual boards (the board
handling: host_tools.testing.hil)."""

from __future__ import annotations

import argparse
import subprocess
import sys

from host_tools.commands import EXIT_BOARD, EXIT_USAGE
from host_tools.testing.hil import REPO, app_running, restart_app


def add_arguments(p: argparse.ArgumentParser) -> None:
    where = p.add_mutually_exclusive_group()
    where.add_argument("--port", help="serial port of the board under test")
    where.add_argument("--emulator", action="store_true", help="virtual boards (default)")
    p.add_argument("-k", dest="keyword", help="only tests matching this expression")
    p.add_argument("pytest_args", nargs="*", help="more pytest arguments (after --)")


def main(args: argparse.Namespace) -> int:
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(REPO / "hil_tests")]
    from host_tools.field.ports import resolve_port
    from host_tools.field.serialboard import TransportError

    port, was_running = None, False
    if args.port:
        try:
            port = resolve_port(args.port)
            was_running = app_running(port)
        except LookupError as e:
            print(f"bourg hil: {e}", file=sys.stderr)
            return EXIT_USAGE
        except (TransportError, OSError) as e:
            print(f"bourg hil: the board on {port} did not answer ({e})", file=sys.stderr)
            return EXIT_BOARD
        cmd += ["--port", port]
    if args.keyword:
        cmd += ["-k", args.keyword]
    cmd += args.pytest_args
    rc = subprocess.call(cmd, cwd=REPO)
    if port and was_running:
        try:
            restart_app(port)
        except (TransportError, OSError) as e:
            print(f"bourg hil: could not restart the board's app ({e}); its watchdog will",
                  file=sys.stderr)
    return rc
