"""Reading and writing parking traces (CSV or .csv.gz, ``#`` comment lines) and replaying
them through the board's detector module exactly as the board sees them (one sample per
second, in file order)."""

from __future__ import annotations

import gzip
import io
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

_FW = Path(__file__).resolve().parents[2] / "firmware" / "parking_sensor"
HEADER = ("t_s", "bx_ut", "by_ut", "bz_ut", "temp_c", "occupied")


def detector_module():  # type: ignore[no-untyped-def]
    """The firmware's ``detector`` module (the very file the board runs)."""
    if str(_FW) not in sys.path:
        sys.path.insert(0, str(_FW))
    import detector  # type: ignore[import-not-found]

    return detector


def shared_dir() -> Path:
    """``../shared/parking`` beside the repository."""
    return Path(__file__).resolve().parents[2].parent / "shared" / "parking"


@dataclass
class Trace:
    t: list[float]
    bx: list[float]
    by: list[float]
    bz: list[float]
    temp: list[float]
    occupied: list[int] | None = None
    meta: dict[str, str] = field(default_factory=dict)
    # times the neighbour bays' vehicles settled or started to leave (simulated traces only;
    # what the totem hears of them: simulate.simulate_row and neighbour_reports)
    neighbour_changes: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.t)

    def samples(self) -> Iterable[tuple[float, float, float, float, float]]:
        return zip(self.t, self.bx, self.by, self.bz, self.temp, strict=True)


def _open_text(path: str | Path, mode: str = "rt") -> io.TextIOBase:
    p = str(path)
    if p.endswith(".gz"):
        return gzip.open(p, mode, encoding="utf-8", newline="")  # type: ignore[return-value]
    return open(p, mode, encoding="utf-8", newline="")  # type: ignore[return-value]


def read_trace(path: str | Path) -> Trace:
    """Read a trace; ``occupied`` is None when the file has no labels."""
    tr = Trace([], [], [], [], [], None)
    occ: list[int] = []
    cols: list[str] | None = None
    with _open_text(path) as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            if line.startswith("#"):
                body = line[1:].strip()
                if ":" in body:
                    k, v = body.split(":", 1)
                    tr.meta[k.strip()] = v.strip()
                continue
            parts = line.split(",")
            if cols is None:
                cols = [c.strip() for c in parts]
                missing = [c for c in HEADER[:5] if c not in cols]
                if missing:
                    raise ValueError(f"{path}: header lacks {missing}")
                ix = [cols.index(c) for c in HEADER[:5]]
                io_ = cols.index("occupied") if "occupied" in cols else -1
                continue
            tr.t.append(float(parts[ix[0]]))
            tr.bx.append(float(parts[ix[1]]))
            tr.by.append(float(parts[ix[2]]))
            tr.bz.append(float(parts[ix[3]]))
            tr.temp.append(float(parts[ix[4]]))
            if io_ >= 0:
                occ.append(int(float(parts[io_])))
    if cols is None:
        raise ValueError(f"{path}: no header")
    if "occupied" in cols:
        tr.occupied = occ
    return tr


def write_trace(path: str | Path, tr: Trace, comments: Sequence[str] = ()) -> None:
    with _open_text(path, "wt") as fh:
        fh.write("# bourg parking trace v1\n")
        for c in comments:
            fh.write(f"# {c}\n")
        labelled = tr.occupied is not None
        fh.write(",".join(HEADER if labelled else HEADER[:5]) + "\n")
        for i in range(len(tr)):
            row = (f"{tr.t[i]:.0f},{tr.bx[i]:.3f},{tr.by[i]:.3f},{tr.bz[i]:.3f},"
                   f"{tr.temp[i]:.2f}")
            if labelled:
                assert tr.occupied is not None
                row += f",{tr.occupied[i]}"
            fh.write(row + "\n")


def read_predictions(path: str | Path) -> tuple[list[float], list[int]]:
    t: list[float] = []
    occ: list[int] = []
    with _open_text(path) as fh:
        header = None
        for line in fh:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split(",")
            if header is None:
                header = [c.strip() for c in parts]
                if header[:2] != ["t_s", "occupied"]:
                    raise ValueError(f"{path}: expected header t_s,occupied")
                continue
            t.append(float(parts[0]))
            occ.append(int(float(parts[1])))
    return t, occ


def write_predictions(path: str | Path, t: Sequence[float], occ: Sequence[int]) -> None:
    with _open_text(path, "wt") as fh:
        fh.write("t_s,occupied\n")
        for ti, o in zip(t, occ, strict=True):
            fh.write(f"{ti:.0f},{int(o)}\n")


Predictor = Callable[[Trace], list[int]]


class TotemView:
    """What a totem answers a node that asks about its neighbours, as bays.Bays does: of the
    neighbour changes it has heard of by then, seconds since the latest one happened (the
    neighbour's frame says how long ago its node saw it), -1 for none yet. ``reports`` are
    (heard at, changed at) pairs sorted by the first; asked in time order."""

    def __init__(self, reports: Sequence[tuple[float, float]]) -> None:
        self.reports = reports
        self.j = 0
        self.last: float | None = None

    def age(self, t: float) -> float:
        while self.j < len(self.reports) and self.reports[self.j][0] <= t:
            c = self.reports[self.j][1]
            if self.last is None or c > self.last:
                self.last = c
            self.j += 1
        return -1.0 if self.last is None else t - self.last


def replay(tr: Trace, params: dict[str, float] | None = None,
           totem: TotemView | None = None) -> list[int]:
    """Run the firmware detector over the trace, one update per sample, as the board does;
    the node's questions about its neighbours are answered from ``totem`` (the answer counts
    from the next sample, as on the board), or without a hint, as a totem with no rows
    answers."""
    det = detector_module().Detector(params)
    out: list[int] = []
    for t, bx, by, bz, temp in tr.samples():
        out.append(1 if det.update(t, bx, by, bz, temp) else 0)
        if det.wants_hint:  # a totem that knows no neighbours answers without a hint
            det.neighbour_hint(totem.age(t) if totem is not None else None)
    return out


def replay_baseline(tr: Trace, threshold_ut: float = 5.0, calib_s: int = 60) -> list[int]:
    """Reference: the documented commercial default. Baseline = per-axis median of the first
    ``calib_s`` samples (installation calibration, bay empty), then occupied while any axis
    deviates by more than ``threshold_ut``; no adaptation, no filtering, no hysteresis."""
    n = min(calib_s, len(tr)) or 1

    def med(xs: list[float]) -> float:
        s = sorted(xs[:n])
        return s[len(s) // 2]

    b = (med(tr.bx), med(tr.by), med(tr.bz))
    return [1 if (abs(x - b[0]) > threshold_ut or abs(y - b[1]) > threshold_ut
                  or abs(z - b[2]) > threshold_ut) else 0
            for x, y, z in zip(tr.bx, tr.by, tr.bz, strict=True)]
