"""`bourg soak` (`make soak`): a small town of virtual boards for hours of virtual time on a
real mosquitto, with seeded traffic, parcels, outages and power cuts; one JSON summary
(host_tools.soak.run, docs/soak.md)."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from host_tools.commands import EXIT_FAIL, EXIT_OK, EXIT_USAGE


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--hours", type=float, default=6.0,
                   help="virtual hours to run (default %(default)s)")
    p.add_argument("--seed", type=int, default=1, help="seed of the plan (default %(default)s)")
    p.add_argument("--workdir", type=Path, default=None,
                   help="keep the boards' flash, the broker and the registry here")
    p.add_argument("--boards", default=None,
                   help="run only these boards of the town, comma-separated (pole-1, pole-2, "
                   "locker-01, ft-1): fewer boards, a quicker run")
    p.add_argument("-v", "--verbose", action="store_true", help="print each action as played")


def main(args: argparse.Namespace) -> int:
    from host_tools.soak.run import BANK, FIELDTEST, POLES, run

    if not 0 < args.hours <= 24 * 31:
        print(f"bourg soak: --hours must be between 0 and 744, got {args.hours}",
              file=sys.stderr)
        return EXIT_USAGE
    only = None
    if args.boards is not None:
        only = [b.strip() for b in args.boards.split(",") if b.strip()]
        town = [*POLES, BANK, FIELDTEST]
        unknown = [b for b in only if b not in town]
        if unknown or not only:
            print(f"bourg soak: --boards takes names from {', '.join(town)}; got "
                  f"{args.boards!r}", file=sys.stderr)
            return EXIT_USAGE

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        summary = run(args.workdir, args.hours, args.seed, say if args.verbose else None, only)
    else:
        with tempfile.TemporaryDirectory(prefix="bourg-soak-") as d:
            summary = run(Path(d), args.hours, args.seed, say if args.verbose else None, only)
    print(json.dumps(summary))
    if not summary["passed"]:
        failed = {k: v for k, v in summary["checks"].items() if v}
        say(f"bourg soak: FAILED with seed {args.seed}: {json.dumps(failed)[:2000]}")
        return EXIT_FAIL
    return EXIT_OK
