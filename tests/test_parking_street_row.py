"""The project's own simulated rows (street_row.py): a ROW-FORMAT.md folder the replay reads,
the same for the same seed, with weak vehicles and vehicles beyond the row's ends."""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path

import pytest

from host_tools.commands import parking as cli
from host_tools.parking import row_bench, row_replay, rows, street_row
from host_tools.parking.traces import Trace


def _cli(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    cli.add_arguments(p)
    return cli.main(p.parse_args(argv))


def test_a_simulated_row_is_a_row_folder_that_replays_and_scores(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    row_dir = tmp_path / "row"
    assert _cli(["simulate-row", "--hours", "2", "--seed", "7", "--bays", "6",
                 "--out", str(row_dir)]) == 0
    capsys.readouterr()
    row = rows.load_row(row_dir)
    assert row.ids == [f"B{k}" for k in range(1, 7)] and row.unsensed_ends
    assert all(tr.occupied is not None and len(tr) == 7200 for tr in row.traces)
    spec = json.loads((row_dir / "row.json").read_text())
    pos = [b["position_m"] for b in spec["bays"]]
    assert pos[0] == 0.0 and all(b > a for a, b in zip(pos, pos[1:], strict=False))
    assert _cli(["replay-row", str(row_dir), "--out", str(tmp_path / "out")]) == 0
    capsys.readouterr()
    assert _cli(["score-row", str(row_dir), str(tmp_path / "out")]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["pooled"]["bays"] == 6 and res["pooled"]["true_changes"] > 0


def test_the_same_seed_gives_the_same_row_and_bad_arguments_are_refused(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    a = street_row.simulate_street_row("hard", 0.5, 3)
    b = street_row.simulate_street_row("hard", 0.5, 3)
    c = street_row.simulate_street_row("hard", 0.5, 4)
    assert [t.bx for t in a.traces] == [t.bx for t in b.traces]
    assert [t.bx for t in a.traces] != [t.bx for t in c.traces]
    assert _cli(["simulate-row", "--bays", "1", "--out", str(tmp_path / "x")]) == 2
    assert "at least two bays" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def _signatures(tr: Trace) -> list[float]:
    """Each stay's settled field against the empty bay's, at the middle of the stay."""
    assert tr.occupied is not None
    base = [statistics.median(c[:200]) for c in (tr.bx, tr.by, tr.bz)]
    out, start = [], None
    for i, o in enumerate(tr.occupied + [0]):
        if o and start is None:
            start = i
        elif not o and start is not None:
            m = (start + i) // 2
            out.append(math.dist(base, (tr.bx[m], tr.by[m], tr.bz[m])))
            start = None
    return out


def test_a_hard_row_has_weak_vehicles_of_a_few_microtesla() -> None:
    row = street_row.simulate_street_row("hard", 24.0, 11, layout="perpendicular")
    sigs = [s for tr in row.traces for s in _signatures(tr)]
    assert len(sigs) > 30
    weak = [s for s in sigs if s < 4.5]
    assert len(weak) >= 0.15 * len(sigs), sorted(sigs)[:10]


def test_vehicles_beyond_the_ends_reach_the_end_bays_and_not_the_middle() -> None:
    """The same seed with and without the unsensed bays: only their vehicles differ."""
    args = ("normal", 6.0, 5, 6, "perpendicular")
    with_ends = street_row.simulate_street_row(*args, unsensed_ends=True)
    without = street_row.simulate_street_row(*args, unsensed_ends=False)

    def moved(k: int) -> float:
        a, b = with_ends.traces[k], without.traces[k]
        return max(math.dist((a.bx[i], a.by[i], a.bz[i]), (b.bx[i], b.by[i], b.bz[i]))
                   for i in range(len(a)))

    assert with_ends.traces[0].occupied == without.traces[0].occupied
    assert moved(0) > 1.0 and moved(5) > 1.0  # a vehicle in the next space: a neighbour
    assert moved(2) < 0.5 * moved(0) and moved(3) < 0.5 * moved(5)


def test_the_bench_pools_simulated_rows_per_profile_and_takes_their_battery_day() -> None:
    made = [street_row.simulate_street_row("normal", 1.0, s, bays=3) for s in (1, 2)]
    fig = row_bench.bench_sim_rows("normal", made, "bourg_gated", True)
    each = [rows.score_preds(r, row_replay.replay_row(r, "bourg_gated").preds)["pooled"]
            for r in made]
    assert fig["bays"] == 6 and fig["set"] == "sim-rows-normal"
    assert fig["true_changes"] == sum(p["true_changes"] for p in each)  # type: ignore[index]
    act = fig["activity_per_day_mean"]
    assert isinstance(act, dict)
    day = row_bench.battery_day(act)
    assert day.wakes == act["int_wakes"] + act["timer_wakes"] > 0
    assert day.follow_samples == act["samples"] - day.wakes
    assert (day.changes, day.questions, day.moving) == (
        act["changes"], act["questions"], act["moving"])
    alone = row_bench.bench_sim_rows("normal", made, "bourg_gated", False)
    fast = row_bench.bench_sim_rows("normal", made, "bourg", True)
    assert row_bench.battery_days([alone, fast, fig]) == {"normal": day}
