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


def hil_main(args: argparse.Namespace) -> int:
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(REPO / "hil_tests")]
    if args.port:
        from .ports import resolve_port

        try:
            cmd += ["--port", resolve_port(args.port)]
        except LookupError as e:
            print(f"bourg hil: {e}", file=sys.stderr)
            return 2
    if args.keyword:
        cmd += ["-k", args.keyword]
    cmd += args.pytest_args
    return subprocess.call(cmd, cwd=REPO)
