"""`bourg bench` and `make bench`: print the benchmark figures as JSON lines and write them under
docs/results/ (the benches: host_tools.bench.run)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from host_tools.bench.run import (
    RESULTS,
    bench_boot,
    bench_chip_heap,
    bench_console,
    bench_hil,
    bench_lighting,
    bench_locker,
    bench_ota_update,
    bench_parking,
    bench_roles_heap,
    bench_soak,
    bench_tls_heap,
    bench_virtual_time,
    emit,
    results_files,
    source_revision,
)
from host_tools.commands import EXIT_OK


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-hil", action="store_true", help="skip timing the HIL suite")
    p.add_argument("--only", choices=["boot", "heap", "update", "lighting", "parking", "locker",
                                        "clock", "soak", "console", "hil"],
                   help="run one group only")
    p.add_argument("--latency-samples", type=int, default=40,
                   help="presence edges timed on the virtual poles")
    from host_tools.parking.bench import N_SIMS

    p.add_argument("--parking-sims", type=int, default=N_SIMS,
                   help="unseen simulated parking days per profile")
    p.add_argument("--boots", type=int, default=10, help="cold boots to time")
    p.add_argument("--soak-hours", type=float, default=1.0,
                   help="virtual hours of the timed soak (default %(default)s)")
    p.add_argument("--results", type=Path, default=None,
                   help="also write the JSON lines here (default: docs/results/"
                        "bench-<UTC date>[-<group>].jsonl; '-' for none)")


def _results_path(args: argparse.Namespace) -> Path | None:
    if args.results is not None:
        return None if str(args.results) == "-" else args.results
    day = time.strftime("%Y-%m-%d", time.gmtime())
    return RESULTS / (f"bench-{day}" + (f"-{args.only}" if args.only else "") + ".jsonl")


def main(args: argparse.Namespace) -> int:
    path = _results_path(args)
    if path is None:
        return _run_groups(args)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        results_files.append(f)
        try:
            emit({"bench": "run", "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  "only": args.only, "source": source_revision()})
            t0 = time.monotonic()
            rc = _run_groups(args)
            emit({"bench": "run_wall_time", "wall_s": round(time.monotonic() - t0, 1)})
            return rc
        finally:
            results_files.remove(f)
            print(f"results written to {path}", file=sys.stderr)


def _run_groups(args: argparse.Namespace) -> int:
    only = args.only
    if only in (None, "boot"):
        bench_boot(args.boots)
        bench_roles_heap()
    if only in (None, "boot", "heap"):
        bench_chip_heap()
        bench_tls_heap()
    if only in (None, "update"):
        bench_ota_update()
    if only in (None, "lighting"):
        bench_lighting(args.latency_samples)
    if only in (None, "parking"):
        bench_parking(args.parking_sims)
    if only in (None, "locker"):
        bench_locker()
    if only in (None, "clock"):
        bench_virtual_time()
    if only in (None, "soak"):
        bench_soak(args.soak_hours)
    if only in (None, "console"):
        bench_console()
    if only == "hil" or (only is None and not args.no_hil):
        bench_hil()
    return EXIT_OK
