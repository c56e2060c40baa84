"""`bourg hil`: run the HIL suite against a board on a serial port, or on virtual boards.

    bourg hil --port /dev/ttyUSB0     # a real board (tests needing fault injection are skipped)
    bourg hil --emulator              # every test, on virtual boards
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def add_arguments(p: argparse.ArgumentParser) -> None:
    where = p.add_mutually_exclusive_group()
    where.add_argument("--port", help="serial port of the board under test")
    where.add_argument("--emulator", action="store_true", help="virtual boards (default)")
    p.add_argument("-k", dest="keyword", help="only tests matching this expression")
    p.add_argument("pytest_args", nargs="*", help="more pytest arguments (after --)")


def _app_running(port: str) -> bool:
    """Whether the board's app was running before the tests stopped it; if so its watchdog
    gets deploy's long timeout, so that it does not reset the board under the tests."""
    from .deploy import hold_watchdog
    from .serialboard import SerialBoard

    sb = SerialBoard(port, restore_app=True)
    try:
        sb.exec("pass")
        if sb.app_was_running:
            hold_watchdog(sb)
        return bool(sb.app_was_running)
    finally:
        sb.restore_app = False
        sb.close()


def _restart_app(port: str) -> None:
    """Put the app back as it was before the tests, without waiting for its watchdog."""
    from .serialboard import SerialBoard

    sb = SerialBoard(port)
    try:
        sb.soft_reboot_into_app()
    finally:
        sb.close()


def hil_main(args: argparse.Namespace) -> int:
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(REPO / "hil_tests")]
    from .ports import resolve_port
    from .serialboard import TransportError

    port, was_running = None, False
    if args.port:
        try:
            port = resolve_port(args.port)
            was_running = _app_running(port)
        except LookupError as e:
            print(f"bourg hil: {e}", file=sys.stderr)
            return 2
        except (TransportError, OSError) as e:
            print(f"bourg hil: the board on {port} did not answer ({e})", file=sys.stderr)
            return 3
        cmd += ["--port", port]
    if args.keyword:
        cmd += ["-k", args.keyword]
    cmd += args.pytest_args
    rc = subprocess.call(cmd, cwd=REPO)
    if port and was_running:
        try:
            _restart_app(port)
        except (TransportError, OSError) as e:
            print(f"bourg hil: could not restart the board's app ({e}); its watchdog will",
                  file=sys.stderr)
    return rc
