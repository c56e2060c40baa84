"""`bourg doctor`: check this machine's tools and registry, and a board's firmware (the checks:
host_tools.field.doctor)."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from host_tools.commands import EXIT_FAIL, EXIT_OK
from host_tools.commands._args import add_registry_argument
from host_tools.field.doctor import run


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", help="also read the board on this serial port ('auto' for the "
                   "only USB board plugged in): its MicroPython and bourg versions")
    p.add_argument("--json", action="store_true", help="print the checks as JSON")
    add_registry_argument(p)


def main(args: argparse.Namespace) -> int:
    port = None if args.port == "auto" else args.port
    checks = run(args.registry, port, board=args.port is not None)
    if args.json:
        print(json.dumps([asdict(c) for c in checks], indent=1))
    else:
        for c in checks:
            print(f"{c.status:4}  {c.name:10} {c.detail}")
    return EXIT_FAIL if any(c.status == "FAIL" for c in checks) else EXIT_OK
