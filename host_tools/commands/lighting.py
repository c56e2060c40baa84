"""`bourg lighting simulate|score`: the night simulation and its score (docs/lighting.md)."""

from __future__ import annotations

import argparse
import json
import sys
import time

from host_tools.commands import EXIT_OK, EXIT_USAGE
from host_tools.lighting import scenario as scn
from host_tools.lighting.score import LevelsError, score
from host_tools.lighting.simulate import CONTROLLERS, simulate, write_csv


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="lighting_cmd", metavar="ACTION")
    sp = sub.add_parser("simulate", help="run a night of the street in virtual time",
                        description="Run every pole's firmware core (pole.Pole) through the "
                                    "night and write the levels CSV (t_s,pole_id,level_pct).")
    sp.add_argument("scenario", help="scenario JSON (../shared/lighting/SCENARIO.md)")
    sp.add_argument("--out", required=True, help="levels CSV to write")
    sp.add_argument("--loss", type=float, default=0.0, help="radio frame loss 0..1 (0)")
    sp.add_argument("--seed", type=int, default=0, help="seed of the radio model (0)")
    sp.add_argument("--hop-ms", type=int, default=50, help="radio hop latency, >= 50 ms")
    sp.add_argument("--controller", choices=CONTROLLERS, default="bourg",
                    help="bourg (this firmware), peer or schedule")
    sc = sub.add_parser("score", help="energy saving and lit_ok of a levels CSV (JSON)")
    sc.add_argument("scenario", help="scenario JSON (../shared/lighting/SCENARIO.md)")
    sc.add_argument("levels", help="levels CSV")


def main(args: argparse.Namespace) -> int:
    cmd = getattr(args, "lighting_cmd", None)
    try:
        if cmd == "simulate":
            sc = scn.load(args.scenario)
            t0 = time.monotonic()
            rows = simulate(sc, controller=args.controller, loss=args.loss, seed=args.seed,
                            hop_ms=args.hop_ms)
            write_csv(sc, rows, args.out)
            print(f"{args.out}: {len(rows)} rows, {len(sc['poles'])} poles, "
                  f"{sc['night_s']:.0f} s night in {time.monotonic() - t0:.1f} s",
                  file=sys.stderr)
            return EXIT_OK
        if cmd == "score":
            sc = scn.load(args.scenario)
            print(json.dumps(score(sc, args.levels), indent=1))
            return EXIT_OK
    except OSError as e:
        print(f"bourg lighting {cmd}: {e.filename}: {e.strerror}", file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, LevelsError) as e:  # ScenarioError is a ValueError: bad input
        print(f"bourg lighting {cmd}: {e}", file=sys.stderr)
        return EXIT_USAGE
    print("bourg lighting: choose simulate or score (see --help)", file=sys.stderr)
    return EXIT_USAGE
