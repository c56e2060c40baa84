"""Row-level benchmark rows (issue 21): each shared row of ``../shared/parking/rows``, and the
project's own simulated rows (street_row.py: six bays, weak vehicles, unsensed ends; seeds
never used elsewhere), replayed whole (row_replay.py) with each node kind, with the totem's
word and without it, scored and pooled as ROW-FORMAT.md says (rows.py). The simulated rows
are pooled per profile, as the goals are. Measuring only: nothing is tuned on the shared rows.

Why both modes: the totem's word is the project's answer to what one sensor cannot tell, and
a site without ``rows`` must still be good; the issue sets goals for each.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from host_tools.parking import battery, row_replay, rows, street_row, traces

SIM_ROW_SEEDS = range(3000, 3004)  # per profile: four rows of six bays, a day each
# issue 21, pooled per profile (latency and false changes: the same in both modes)
GOALS = {"with_totem": {"normal": 99.5, "hard": 98.0}, "alone": {"normal": 99.0, "hard": 95.0},
         "changes_detected_pct": 99.0, "false_changes_per_day": 0.3, "latency_p95_s": 10.0}


def shared_rows() -> list[Path]:
    """The shared rows' folders (none when ../shared/parking/rows is absent)."""
    d = traces.shared_dir() / "rows"
    return sorted(p.parent for p in d.glob("*/row.json")) if d.is_dir() else []


def _goals(p: dict[str, object], profile: str, totem: bool) -> dict[str, bool]:
    mode = "with_totem" if totem else "alone"
    return {
        "accuracy": float(p["accuracy_pct"] or 0) >= GOALS[mode][profile],  # type: ignore[index,arg-type]
        "changes_detected": float(p["changes_detected_pct"] or 0)  # type: ignore[arg-type]
        >= GOALS["changes_detected_pct"],  # type: ignore[operator]
        "false_changes": float(p["false_changes_per_day"] or 0)  # type: ignore[arg-type]
        <= GOALS["false_changes_per_day"],  # type: ignore[operator]
        "latency_p95": float(p["latency_p95_s"] or 0) <= GOALS["latency_p95_s"],  # type: ignore[arg-type,operator]
    }


def _mean_activity(replays: list[row_replay.RowReplay]) -> dict[str, float]:
    """The nodes' mean activity a day, over every bay of every replay."""
    per_day = [a for res in replays for a in res.activity_per_day().values()]
    return {k: round(sum(a[k] for a in per_day) / len(per_day), 2) for k in per_day[0]}


def _figures(name: str, profile: str, detector: str, totem: bool, seed: int,
             p: dict[str, object], activity: dict[str, float]) -> dict[str, object]:
    goals = _goals(p, profile, totem)
    return {"bench": "parking-row", "set": name, "profile": profile, "detector": detector,
            "totem": totem, "radio_loss": row_replay.RadioModel.loss, "seed": seed,
            **{k: p[k] for k in ("bays", "accuracy_pct", "true_changes", "changes_detected",
                                 "changes_detected_pct", "false_changes",
                                 "false_changes_per_day", "latency_p50_s", "latency_p95_s")},
            "goals": goals, "goals_met": all(goals.values()), "activity_per_day_mean": activity}


def bench_row(row: rows.Row, name: str, detector: str, totem: bool, seed: int = 0
              ) -> dict[str, object]:
    """One replay's pooled figures, its goals, and the nodes' mean activity a day."""
    res = row_replay.replay_row(row, detector, totem=totem, seed=seed)
    p = rows.score_preds(row, res.preds)["pooled"]
    assert isinstance(p, dict)
    profile = "hard" if "hard" in name else "normal"
    return _figures(name, profile, detector, totem, seed, p, _mean_activity([res]))


def bench_sim_rows(profile: str, sim_rows: list[rows.Row], detector: str, totem: bool,
                   seed: int = 0) -> dict[str, object]:
    """The simulated rows of one profile, every bay pooled, as the goals are."""
    per_bay: dict[str, dict[str, object]] = {}
    lat: list[float] = []
    replays = []
    for row in sim_rows:
        res = row_replay.replay_row(row, detector, totem=totem, seed=seed)
        replays.append(res)
        scores, bay_lat = rows.bay_scores(row, res.preds)
        for bay_id, score in scores.items():
            per_bay[f"{row.meta['seed']}/{bay_id}"] = score
        lat += bay_lat
    p = rows.pool(per_bay, lat)
    out = _figures(f"sim-rows-{profile}", profile, detector, totem, seed, p,
                   _mean_activity(replays))
    out["rows"] = [f"{r.layout} x{len(r.ids)} seed {r.meta['seed']}" for r in sim_rows]
    return out


def battery_day(activity: dict[str, float]) -> battery.Day:
    """A row replay's mean node day as the battery estimate takes it: every wake, the samples
    taken after one, the changes, questions and MOVING frames. The estimate counts frames
    itself (reports per change as measured on a board, the heartbeats, the questions), not
    the replay's: it leaves out retries after a loss (about 4 a day on the hard rows) and
    counts the heartbeats that early frames pushed back (more than that), so it errs safe."""
    wakes = activity["int_wakes"] + activity["timer_wakes"]
    return battery.Day(wakes, max(0.0, activity["samples"] - wakes), activity["changes"],
                       activity["questions"], activity["moving"])


def battery_days(figures: list[dict[str, object]]) -> dict[str, battery.Day]:
    """The battery day of each profile's simulated rows: the gated node's, with the totem's
    word (the node as installed), from run()'s figures."""
    out = {}
    for r in figures:
        if r["bench"] == "parking-row" and r["detector"] == "bourg_gated" and r["totem"] \
                and str(r["set"]).startswith("sim-rows-"):
            act = r["activity_per_day_mean"]
            assert isinstance(act, dict)
            out[str(r["profile"])] = battery_day(act)
    return out


def sim_rows(profile: str) -> list[rows.Row]:
    return [street_row.simulate_street_row(profile, 24.0, s) for s in SIM_ROW_SEEDS]


def run() -> Iterator[dict[str, object]]:
    for path in shared_rows():
        row = rows.load_row(path)
        for detector in row_replay.DETECTORS:
            for totem in (False, True):
                yield bench_row(row, path.name, detector, totem)
    for profile in ("normal", "hard"):
        made = sim_rows(profile)
        for detector in row_replay.DETECTORS:
            for totem in (False, True):
                yield bench_sim_rows(profile, made, detector, totem)
