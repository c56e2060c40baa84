"""Row-level benchmark rows (issue 21): each shared row of ``../shared/parking/rows`` replayed
whole (row_replay.py) with each node kind, with the totem's word and without it, scored and
pooled as ROW-FORMAT.md says (rows.py). Measuring only: nothing is tuned on these rows.

Why both modes: the totem's word is the project's answer to what one sensor cannot tell, and
a site without ``rows`` must still be good; the issue sets goals for each.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from host_tools.parking import row_replay, rows, traces

# issue 21, pooled per profile (latency and false changes: the same in both modes)
GOALS = {"with_totem": {"normal": 99.5, "hard": 98.0}, "alone": {"normal": 99.0, "hard": 95.0},
         "changes_detected_pct": 99.0, "false_changes_per_day": 0.3, "latency_p95_s": 10.0}


def shared_rows() -> list[Path]:
    """The shared rows' folders (none when ../shared/parking/rows is absent)."""
    d = traces.shared_dir() / "rows"
    return sorted(p.parent for p in d.glob("*/row.json")) if d.is_dir() else []


def bench_row(row: rows.Row, name: str, detector: str, totem: bool, seed: int = 0
              ) -> dict[str, object]:
    """One replay's pooled figures, its goals, and the nodes' mean activity a day."""
    res = row_replay.replay_row(row, detector, totem=totem, seed=seed)
    p = rows.score_preds(row, res.preds)["pooled"]
    assert isinstance(p, dict)
    profile = "hard" if "hard" in name else "normal"
    mode = "with_totem" if totem else "alone"
    goals = {
        "accuracy": float(p["accuracy_pct"] or 0) >= GOALS[mode][profile],  # type: ignore[index]
        "changes_detected": float(p["changes_detected_pct"] or 0)
        >= GOALS["changes_detected_pct"],  # type: ignore[operator]
        "false_changes": float(p["false_changes_per_day"] or 0)
        <= GOALS["false_changes_per_day"],  # type: ignore[operator]
        "latency_p95": float(p["latency_p95_s"] or 0) <= GOALS["latency_p95_s"],  # type: ignore[operator]
    }
    per_day = res.activity_per_day()
    keys = next(iter(per_day.values())).keys()
    mean = {k: round(sum(a[k] for a in per_day.values()) / len(per_day), 2) for k in keys}
    return {"bench": "parking-row", "set": name, "profile": profile, "detector": detector,
            "totem": totem, "radio_loss": row_replay.RadioModel.loss, "seed": seed,
            **{k: p[k] for k in ("bays", "accuracy_pct", "true_changes", "changes_detected",
                                 "changes_detected_pct", "false_changes",
                                 "false_changes_per_day", "latency_p50_s", "latency_p95_s")},
            "goals": goals, "goals_met": all(goals.values()), "activity_per_day_mean": mean}


def run() -> Iterator[dict[str, object]]:
    for path in shared_rows():
        row = rows.load_row(path)
        for detector in row_replay.DETECTORS:
            for totem in (False, True):
                yield bench_row(row, path.name, detector, totem)
