"""A row of bays as ``../shared/parking/ROW-FORMAT.md`` defines it (a folder: ``row.json`` and
one FORMAT.md trace per bay, all on one clock), and its row-level score: each bay scored
against its own ``occupied`` column by ``score.score`` (the FORMAT.md metrics, unchanged), then
the bays pooled, as ROW-FORMAT.md says.

Pooled figures (the issue's goals are pooled): accuracy over all the bays' scored samples
(each bay's accuracy weighted by its scored samples), changes detected over all true changes,
false changes over all bay-days, latency p95 (nearest rank) over all matched changes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from host_tools.parking import score as score_mod
from host_tools.parking import traces
from host_tools.parking.traces import Trace


@dataclass
class Row:
    """A row in street order: ``ids[k]``'s trace is ``traces[k]``; all share ``t``."""
    ids: list[str]
    traces: list[Trace]
    layout: str = ""
    pitch_m: float = 0.0
    unsensed_ends: bool = False
    meta: dict[str, object] = field(default_factory=dict)

    @property
    def t(self) -> list[float]:
        return self.traces[0].t

    def slice(self, start: int, stop: int) -> Row:
        """Samples start..stop of every bay (tests replay an hour, not a day)."""
        def cut(tr: Trace) -> Trace:
            occ = None if tr.occupied is None else tr.occupied[start:stop]
            return Trace(tr.t[start:stop], tr.bx[start:stop], tr.by[start:stop],
                         tr.bz[start:stop], tr.temp[start:stop], occ, dict(tr.meta))
        return Row(list(self.ids), [cut(tr) for tr in self.traces], self.layout,
                   self.pitch_m, self.unsensed_ends, dict(self.meta))


def load_row(row_dir: str | Path) -> Row:
    """Read ``row.json`` and its traces; ValueError when the traces are not on one clock
    (a replay in common time needs every bay's second to be the same second)."""
    d = Path(row_dir)
    spec = json.loads((d / "row.json").read_text(encoding="utf-8"))
    ids = [str(b["id"]) for b in spec["bays"]]
    trs = [traces.read_trace(d / b["trace"]) for b in spec["bays"]]
    if not trs:
        raise ValueError(f"{d}/row.json lists no bays")
    for i, tr in enumerate(trs[1:], 1):
        if tr.t != trs[0].t:
            raise ValueError(f"{d}: {ids[i]}'s t_s column differs from {ids[0]}'s")
    return Row(ids, trs, str(spec.get("layout", "")), float(spec.get("pitch_m", 0.0)),
               bool(spec.get("unsensed_ends", False)), {"path": str(d)})


def pred_path(out_dir: str | Path, bay_id: str) -> Path:
    return Path(out_dir) / f"{bay_id}.pred.csv"


def pool(per_bay: dict[str, dict[str, object]], lat: list[float]) -> dict[str, object]:
    """The bays' scores pooled (module docstring); ``lat``: every bay's matched latencies."""
    ss = list(per_bay.values())
    scored = sum(int(s["scored_samples"]) for s in ss)  # type: ignore[call-overload]
    good = sum(float(s["accuracy_pct"] or 0.0) * int(s["scored_samples"])  # type: ignore[call-overload,arg-type]
               for s in ss) / 100.0
    n_true = sum(int(s["true_arrivals"]) + int(s["true_departures"]) for s in ss)  # type: ignore[call-overload]
    n_det = sum(int(s["arrivals_detected"]) + int(s["departures_detected"]) for s in ss)  # type: ignore[call-overload]
    false = sum(int(s["false_changes"]) for s in ss)  # type: ignore[call-overload]
    days = sum(float(s["duration_days"]) for s in ss)  # type: ignore[arg-type]
    return {
        "bays": len(ss),
        "scored_samples": scored,
        "accuracy_pct": round(100.0 * good / scored, 3) if scored else None,
        "true_changes": n_true,
        "changes_detected": n_det,
        "changes_detected_pct": round(100.0 * n_det / n_true, 3) if n_true else None,
        "false_changes": false,
        "bay_days": round(days, 6),
        "false_changes_per_day": round(false / days, 3) if days else None,
        "latency_p50_s": score_mod.percentile(lat, 50),
        "latency_p95_s": score_mod.percentile(lat, 95),
        "latency_max_s": max(lat) if lat else None,
    }


def _labels(bay_id: str, tr: Trace) -> list[int]:
    if tr.occupied is None:
        raise ValueError(f"bay {bay_id}: trace has no occupied column")
    return tr.occupied


def bay_scores(row: Row, preds: dict[str, list[int]]
               ) -> tuple[dict[str, dict[str, object]], list[float]]:
    """Each bay's FORMAT.md scores by bay id, and every bay's matched change latencies: what
    pool() takes, for one row or for several rows pooled together."""
    per_bay: dict[str, dict[str, object]] = {}
    lat: list[float] = []
    for bay_id, tr in zip(row.ids, row.traces, strict=True):
        truth = _labels(bay_id, tr)
        per_bay[bay_id] = score_mod.score(tr.t, truth, preds[bay_id])
        lat += score_mod.latencies(tr.t, truth, preds[bay_id])
    return per_bay, lat


def score_preds(row: Row, preds: dict[str, list[int]]) -> dict[str, object]:
    """Per-bay FORMAT.md scores and the pooled row figures, from predictions by bay id."""
    per_bay, lat = bay_scores(row, preds)
    return {"row": row.meta.get("path", ""), "layout": row.layout, "pooled": pool(per_bay, lat),
            "per_bay": per_bay}


def score_row(row_dir: str | Path, out_dir: str | Path) -> dict[str, object]:
    """`bourg parking score-row`: read the row and OUT_DIR's ``<id>.pred.csv`` files."""
    row = load_row(row_dir)
    preds: dict[str, list[int]] = {}
    for bay_id in row.ids:
        t, pred = traces.read_predictions(pred_path(out_dir, bay_id))
        if t != row.t:
            raise ValueError(f"{pred_path(out_dir, bay_id)}: t_s does not match the trace's")
        preds[bay_id] = pred
    return score_preds(row, preds)
