"""`bourg parking ...`: replay a trace (or a row of bays) through the detector, score it,
simulate traces, bench.
"""

from __future__ import annotations

import argparse
import json
import sys

from host_tools.commands import EXIT_OK, EXIT_USAGE
from host_tools.commands._args import positive_number
from host_tools.parking import battery, row_replay, traces
from host_tools.parking import score as score_mod


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="parking_cmd", metavar="ACTION")
    sub.required = True
    r = sub.add_parser("replay", help="run the detector over a trace (as the board at 1 Hz)")
    r.add_argument("trace", help="TRACE.csv or TRACE.csv.gz")
    r.add_argument("--out", required=True, help="predictions CSV (t_s,occupied)")
    r.add_argument("--detector", choices=["bourg", "bourg_gated", "baseline5"],
                   default="bourg",
                   help="bourg (every 1 Hz sample, default), bourg_gated (the samples a "
                   "LIS2MDL node takes when it sleeps behind its wake-on-change threshold) "
                   "or the per-axis 5 µT fixed-threshold reference")
    s = sub.add_parser("score", help="score predictions against a labelled trace (JSON)")
    s.add_argument("trace", help="labelled TRACE.csv or TRACE.csv.gz")
    s.add_argument("pred", help="predictions CSV, as `parking replay` writes")
    _add_row_arguments(sub)
    m = sub.add_parser("simulate", help="write a simulated labelled trace")
    m.add_argument("--profile", choices=["normal", "hard"], default="normal",
                   help="street: normal, or hard (more traffic, close neighbours)")
    m.add_argument("--hours", type=float, default=24.0, help="length of the trace")
    m.add_argument("--seed", type=int, default=0, help="random seed: the same seed, the same trace")
    m.add_argument("--layout", choices=["parallel", "perpendicular"], default=None,
                   help="bay layout (default: drawn from the seed)")
    m.add_argument("--out", required=True, help="X.csv or X.csv.gz")
    b = sub.add_parser("bench", help="benchmark figures as JSON lines")
    from host_tools.parking.bench import N_SIMS

    b.add_argument("--sims", type=int, default=N_SIMS, help="unseen simulated traces per profile")
    bt = sub.add_parser("battery", help="battery life of a sensor node, measured on a virtual "
                        "board times published current figures (JSON)")
    _add_battery_arguments(bt)


def _add_battery_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seconds", type=float, default=60.0, help="virtual run to measure")
    p.add_argument("--profile", choices=["normal", "hard"], default="normal",
                   help="street profile of the simulated days")
    p.add_argument("--days", type=int, default=16, help="simulated days to average")
    p.add_argument("--heartbeat-s", type=int, default=1800,
                   help="seconds between a quiet node's heartbeats")
    p.add_argument("--boot-ms", type=positive_number, default=250.0,
                   help="ESP32 deep-sleep wake to main.py (assumed; measure on a board)")
    p.add_argument("--run-ms", type=positive_number, default=battery.RUN_MS,
                   help="ESP32 running time per sample (assumed, %(default)s; measure on a "
                   "board)")


def _add_row_arguments(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """replay-row / score-row / simulate-row: a whole row of bays (ROW-FORMAT.md)."""
    r = sub.add_parser("replay-row", help="replay a row of bays (ROW-FORMAT.md): every bay's "
                       "node and the totem, in virtual time over a seeded lossy radio")
    r.add_argument("row_dir", metavar="ROW_DIR", help="folder with row.json and one trace per bay")
    r.add_argument("--out", required=True, metavar="OUT_DIR",
                   help="folder to write one <id>.pred.csv per bay into (created if missing)")
    r.add_argument("--detector", choices=list(row_replay.DETECTORS), default="bourg",
                   help="bourg (a node sampling at 1 Hz, default) or bourg_gated (a LIS2MDL "
                   "node asleep behind its wake-on-change threshold)")
    r.add_argument("--no-totem", action="store_true",
                   help="node alone: the totem has no `rows`, so it never vouches for a "
                   "node's neighbours (the node decides alone)")
    r.add_argument("--seed", type=int, default=0,
                   help="radio seed (losses, delays) and node keys: the same seed, the same "
                   "replay")
    r.add_argument("--loss", type=float, default=row_replay.RadioModel.loss,
                   help="probability that a frame (node's or ACK) is lost after the radio's "
                   "own retries (default %(default)s)")
    m = sub.add_parser("simulate-row", help="write a simulated labelled row of bays "
                       "(ROW-FORMAT.md): weak vehicles, unsensed bays beyond the ends")
    m.add_argument("--profile", choices=["normal", "hard"], default="normal",
                   help="street: normal, or hard (more weak vehicles, traffic, noise)")
    m.add_argument("--hours", type=float, default=24.0, help="length of the day")
    m.add_argument("--seed", type=int, default=0, help="the same seed, the same row")
    m.add_argument("--bays", type=int, default=6, help="sensed bays in the row (2 or more)")
    m.add_argument("--layout", choices=["parallel", "perpendicular"], default=None,
                   help="bay layout (default: drawn from the seed)")
    m.add_argument("--no-unsensed-ends", action="store_true",
                   help="nothing parks beyond the end bays")
    m.add_argument("--out", required=True, metavar="ROW_DIR", help="folder to write into")
    s = sub.add_parser("score-row", help="score a replayed row against its labels (JSON: "
                       "per bay and pooled)")
    s.add_argument("row_dir", metavar="ROW_DIR", help="labelled row folder (row.json + traces)")
    s.add_argument("out_dir", metavar="OUT_DIR", help="folder of <id>.pred.csv, as "
                   "`parking replay-row` writes")


def _row_main(args: argparse.Namespace) -> int:
    """replay-row (predictions into OUT_DIR, the nodes' activity a day as JSON on stdout),
    score-row (JSON) and simulate-row (a row folder)."""
    from pathlib import Path

    from host_tools.parking import rows

    if args.parking_cmd == "simulate-row":
        from host_tools.parking import street_row

        if args.hours <= 0:
            raise ValueError("--hours must be positive")
        made = street_row.simulate_street_row(args.profile, args.hours, args.seed, args.bays,
                                              args.layout, not args.no_unsensed_ends)
        print(street_row.write_row(made, args.out))
        return EXIT_OK
    if args.parking_cmd == "score-row":
        print(json.dumps(rows.score_row(args.row_dir, args.out_dir), indent=2))
        return EXIT_OK
    if not 0.0 <= args.loss < 1.0:
        raise ValueError("--loss must be in [0, 1)")
    row = rows.load_row(args.row_dir)
    res = row_replay.replay_row(row, args.detector, totem=not args.no_totem, seed=args.seed,
                                radio=row_replay.RadioModel(loss=args.loss))
    Path(args.out).mkdir(parents=True, exist_ok=True)
    for bay_id, pred in res.preds.items():
        traces.write_predictions(rows.pred_path(args.out, bay_id), row.t, pred)
    print(json.dumps({"activity_per_day": res.activity_per_day(), "totem": res.totem}))
    return EXIT_OK


def main(args: argparse.Namespace) -> int:
    cmd = args.parking_cmd
    try:
        if cmd in ("replay-row", "score-row", "simulate-row"):
            return _row_main(args)
        if cmd == "replay":
            tr = traces.read_trace(args.trace)
            if args.detector == "bourg_gated":
                from host_tools.parking import duty

                pred, stats = duty.replay_gated(tr)
                print(json.dumps({k: round(v, 1) for k, v in stats.per_day().items()}))
            else:
                pred = (traces.replay(tr) if args.detector == "bourg"
                        else traces.replay_baseline(tr))
            traces.write_predictions(args.out, tr.t, pred)
            return EXIT_OK
        if cmd == "score":
            tr = traces.read_trace(args.trace)
            if tr.occupied is None:
                print(f"bourg parking score: {args.trace} has no occupied column",
                      file=sys.stderr)
                return EXIT_USAGE
            t, pred = traces.read_predictions(args.pred)
            if t != tr.t:
                print("bourg parking score: predictions do not match the trace's t_s column",
                      file=sys.stderr)
                return EXIT_USAGE
            print(json.dumps(score_mod.score(tr.t, tr.occupied, pred), indent=2))
            return EXIT_OK
        if cmd == "simulate":
            from host_tools.parking import simulate

            tr = simulate.simulate(args.profile, args.hours, args.seed, args.layout)
            traces.write_trace(args.out, tr, simulate.comments(tr))
            return EXIT_OK
        if cmd == "battery":
            from host_tools.parking import battery

            print(json.dumps(battery.report(args.seconds, args.profile, args.days,
                                            args.heartbeat_s, args.boot_ms,
                                            args.run_ms)))
            return EXIT_OK
        if cmd == "bench":
            from host_tools.parking import bench

            for row in bench.run(n_sims=args.sims):
                print(json.dumps(row), flush=True)
            return EXIT_OK
    except OSError as e:
        print(f"bourg parking {cmd}: {e.filename}: {e.strerror}", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as e:  # a trace or row that breaks its format: bad input
        print(f"bourg parking {cmd}: {e}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_USAGE
