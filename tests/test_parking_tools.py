"""Host parking tools: trace I/O, replay format, scorer on hand-made traces, simulator, CLI."""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

import pytest

from host_tools.commands import parking as cli
from host_tools.parking import bench, duty, score, simulate, traces


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    cli.add_arguments(p)
    return p.parse_args(argv)



def _day(delays: list[int], missed: int = 0) -> dict[str, object]:
    """A day's score: a change every 100 s, each detected after its delay, then ``missed``
    changes never detected."""
    n = 100 * (len(delays) + missed + 1)
    t = [float(i) for i in range(n)]
    truth = [(i // 100) % 2 for i in range(n)]
    pred = list(truth)
    for k, dl in enumerate(delays):
        c = 100 * (k + 1)
        for i in range(c, c + dl):
            pred[i] = truth[c - 1]
    for k in range(len(delays), len(delays) + missed):
        for i in range(100 * (k + 1), 100 * (k + 2)):
            pred[i] = pred[i - 1]
    s = score.score(t, truth, pred)
    s["latencies_s"] = score.latencies(t, truth, pred)
    return s

# -- scorer: exact numbers on hand-made traces -------------------------------------------------

def test_score_perfect_prediction() -> None:
    t = [float(i) for i in range(1000)]
    truth = [1 if 200 <= i < 600 else 0 for i in range(1000)]
    s = score.score(t, truth, truth)
    assert s["accuracy_pct"] == 100.0
    assert s["scored_samples"] == 1000 - 2 * 61  # |t - change| <= 30 excluded
    assert (s["true_arrivals"], s["true_departures"]) == (1, 1)
    assert s["changes_detected_pct"] == 100.0
    assert s["false_changes"] == 0
    assert s["latency_p50_s"] == 0.0 and s["latency_p95_s"] == 0.0


def test_score_late_early_missed_and_false() -> None:
    n = 86400  # one day
    t = [float(i) for i in range(n)]
    truth = [0] * n
    for a, b in ((1000, 2000), (5000, 6000), (10000, 20000)):
        for i in range(a, b):
            truth[i] = 1
    pred = [0] * n
    # arrival 1: 5 s late, departure 1: 3 s early; arrival 2: 40 s late (missed, then
    # counted as a false change); departure 2: 10 s late; third stay never detected;
    # plus one 100-s false occupancy at 50000
    for a, b in ((1005, 1997), (5040, 6010), (50000, 50100)):
        for i in range(a, b):
            pred[i] = 1
    s = score.score(t, truth, pred)
    assert s["true_arrivals"] == 3 and s["true_departures"] == 3
    assert s["arrivals_detected"] == 1  # 1005 only (5040 is 40 s late)
    assert s["departures_detected"] == 2  # 1997 (early 3) and 6010 (late 10)
    assert s["arrivals_detected_pct"] == pytest.approx(33.333)
    assert s["departures_detected_pct"] == pytest.approx(66.667)
    assert s["changes_detected_pct"] == 50.0
    assert s["predicted_changes"] == 6
    assert s["false_changes"] == 3  # 5040 arrival, 50000 and 50100
    assert s["false_changes_per_day"] == 3.0
    assert sorted([s["latency_p50_s"], s["latency_p95_s"]]) == [5.0, 10.0]
    assert s["latency_max_s"] == 10.0
    # accuracy: excluded = 6 changes x 61 samples; wrong outside windows: 5031..5039 (9 s
    # between 5030 and 5040 exclusive of window <= 5030), 10031..19969 (whole third stay
    # outside its windows), 50000..50099
    excluded = 6 * 61
    wrong = (5039 - 5031 + 1) + (19969 - 10031 + 1) + 100
    assert s["scored_samples"] == n - excluded
    assert s["accuracy_pct"] == pytest.approx(round(100 * (n - excluded - wrong)
                                                    / (n - excluded), 3))


def test_score_direction_must_match_and_matching_is_one_to_one() -> None:
    t = [float(i) for i in range(400)]
    truth = [1 if i >= 100 else 0 for i in range(400)]
    # prediction flips 1 at 95, 0 at 98, 1 at 101: one arrival matched (95), the rest false
    pred = [1 if (95 <= i < 98 or i >= 101) else 0 for i in range(400)]
    s = score.score(t, truth, pred)
    assert s["arrivals_detected"] == 1
    assert s["false_changes"] == 2
    assert s["latency_p50_s"] == -5.0


def test_percentile_nearest_rank() -> None:
    assert score.percentile([], 95) is None
    assert score.percentile([3, 1, 2], 50) == 2.0
    assert score.percentile(list(range(1, 21)), 95) == 19.0
    assert score.percentile(list(range(1, 21)), 100) == 20.0


def test_score_length_mismatch() -> None:
    with pytest.raises(ValueError):
        score.score([0.0, 1.0], [0, 0], [0])


# -- trace I/O, replay and CLI ------------------------------------------------------------------

def _write_small(path: Path, gz: bool) -> None:
    text = ("# bourg parking trace v1\n# rate_hz: 1\n# layout: parallel\n"
            "t_s,bx_ut,by_ut,bz_ut,temp_c,occupied\n"
            + "".join(f"{i},20.000,-5.000,-42.000,10.00,0\n" for i in range(50)))
    if gz:
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)


@pytest.mark.parametrize("gz", [False, True])
def test_read_trace_and_replay_cli(tmp_path: Path, gz: bool) -> None:
    src = tmp_path / ("t.csv.gz" if gz else "t.csv")
    _write_small(src, gz)
    tr = traces.read_trace(src)
    assert len(tr) == 50 and tr.meta["layout"] == "parallel" and tr.occupied == [0] * 50
    out = tmp_path / "pred.csv"
    assert cli.main(_parse(["replay", str(src), "--out", str(out)])) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "t_s,occupied"
    assert lines[1:] == [f"{i},0" for i in range(50)]


def test_score_cli_prints_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "t.csv"
    _write_small(src, False)
    pred = tmp_path / "p.csv"
    assert cli.main(_parse(["replay", str(src), "--out", str(pred)])) == 0
    capsys.readouterr()
    assert cli.main(_parse(["score", str(src), str(pred)])) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["accuracy_pct"] == 100.0 and s["false_changes"] == 0


def test_score_cli_rejects_mismatched_predictions(tmp_path: Path) -> None:
    src = tmp_path / "t.csv"
    _write_small(src, False)
    pred = tmp_path / "p.csv"
    pred.write_text("t_s,occupied\n0,0\n")
    assert cli.main(_parse(["score", str(src), str(pred)])) == 2


def test_replay_baseline_detector() -> None:
    n = 300
    tr = traces.Trace([float(i) for i in range(n)], [20.0] * n, [-5.0] * n, [-42.0] * n,
                      [10.0] * n)
    for i in range(100, 200):
        tr.bz[i] = -48.0  # 6 µT on one axis
    tr.bx[250] = 26.0  # one glitch: the reference flips on it
    pred = traces.replay_baseline(tr)
    assert pred[99] == 0 and pred[100:200] == [1] * 100 and pred[200] == 0 and pred[250] == 1


# -- simulator ----------------------------------------------------------------------------------

def test_simulator_deterministic_and_labelled(tmp_path: Path) -> None:
    a = simulate.simulate("hard", hours=2, seed=7)
    b = simulate.simulate("hard", hours=2, seed=7)
    c = simulate.simulate("hard", hours=2, seed=8)
    assert (a.bx, a.by, a.bz, a.temp, a.occupied) == (b.bx, b.by, b.bz, b.temp, b.occupied)
    assert a.bx != c.bx
    assert len(a) == 7200 and a.occupied is not None
    out = tmp_path / "s.csv.gz"
    assert cli.main(_parse(["simulate", "--profile", "normal", "--hours", "1", "--seed", "3",
                            "--out", str(out)])) == 0
    tr = traces.read_trace(out)
    assert len(tr) == 3600 and tr.occupied is not None and tr.meta["profile"] == "normal"
    ref = simulate.simulate("normal", 1, 3)
    assert tr.bx == [round(x, 3) for x in ref.bx]


def test_simulator_earth_field_and_dipole() -> None:
    tr = simulate.simulate("normal", hours=0.5, seed=1)
    mags = sorted((x * x + y * y + z * z) ** 0.5 for x, y, z in zip(tr.bx, tr.by, tr.bz,
                                                                     strict=True))
    assert 40 < mags[len(mags) // 2] < 60
    # on-axis dipole: B = 2 * 1e-7 * m / r^3 (T) = 0.2 m / r^3 µT
    bz = simulate.dipole((0.0, 0.0, 10.0), (0.0, 0.0, 1.0))[2]
    assert bz == pytest.approx(2.0)


@pytest.mark.parametrize(("profile", "seed"), [("normal", 43), ("hard", 44)])
def test_simulated_day_regression(profile: str, seed: int) -> None:
    """Simulated days (seeds outside the bench's): measured 100 % / 100 % / 0 false changes;
    floors just under. Other seeds are harder (the bench's sim-* sets, docs/results/)."""
    tr = simulate.simulate(profile, 24, seed=seed)
    assert tr.occupied is not None
    s = score.score(tr.t, tr.occupied, traces.replay(tr))
    assert s["accuracy_pct"] >= 99.5  # type: ignore[operator]
    assert s["changes_detected_pct"] >= 98.0  # type: ignore[operator]
    assert s["false_changes"] == 0
    assert s["latency_p95_s"] <= 10.0  # type: ignore[operator]


def test_a_row_of_bays_renders_the_neighbours_sensors_from_the_same_vehicles() -> None:
    """simulate_row: the centre trace is simulate()'s, sample for sample; each neighbour's
    sensor sees its own bay's vehicles strongly (its detector finds their changes, which are
    the centre's neighbour changes) and the centre's cars weakly; what the totem hears is
    what those detectors report, changes and manoeuvres, each after the node saw it."""
    row = simulate.simulate_row("hard", hours=6, seed=5)
    alone = simulate.simulate("hard", hours=6, seed=5)
    assert row.centre.bx == alone.bx and row.centre.occupied == alone.occupied
    assert len(row.sides) == 2
    truth = []
    for side in row.sides:
        assert side.occupied is not None and len(side) == len(alone)
        s = score.score(side.t, side.occupied, traces.replay(side))
        assert s["changes_detected_pct"] >= 90.0 and s["false_changes"] <= 1  # type: ignore[operator]
        truth += [c for c, _ in score.changes(side.t, side.occupied)]
    assert sorted(truth) == alone.neighbour_changes
    heard = simulate.neighbour_reports(row)
    assert heard == sorted(heard) and all(h == c + simulate.RADIO_S for h, c in heard)
    # every neighbour change was told within the latency goal, and manoeuvres besides
    assert len(heard) > len(truth)
    assert all(any(0 <= c - t <= 10 for _, c in heard) for t in truth)
    # wake-on-change neighbours: what their own replay decided, each change told
    told: list[float] = []
    for side in row.sides:
        mine: list[float] = []
        pred, _ = duty.replay_gated(side, told=mine)
        assert {side.t[i] for i in range(1, len(pred)) if pred[i] != pred[i - 1]} <= set(mine)
        told += mine
    slept = simulate.neighbour_reports(row, gated=True)
    assert slept == sorted((t + simulate.RADIO_S, t) for t in told)
    assert all(any(0 <= c - t <= 10 for _, c in slept) for t in truth)
    assert simulate.simulate_row("hard", hours=6, seed=5).sides[0].bx == row.sides[0].bx


def test_gated_replay_cli_writes_every_second_and_the_wakes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "t.csv"
    _write_small(src, False)
    out = tmp_path / "pred.csv"
    assert cli.main(_parse(["replay", str(src), "--out", str(out),
                            "--detector", "bourg_gated"])) == 0
    assert out.read_text().splitlines()[1:] == [f"{i},0" for i in range(50)]
    wakes = json.loads(capsys.readouterr().out)
    assert set(wakes) == {"int_wakes", "timer_wakes", "follow_samples", "changes",
                          "questions", "moving"}
    assert wakes["follow_samples"] > 0 and wakes["changes"] == 0


def test_bench_judges_the_goals_on_the_whole_set() -> None:
    """p95 pools every detection of the set: a sparse day whose second-slowest detection
    took 12 s does not make the set's p95 12 s, but it is shown as the worst day."""
    busy = _day([4] * 38 + [12])
    sparse = _day([4, 12])
    row = bench.summarise("sim-normal", "bourg", [busy, sparse])
    assert sparse["latency_p95_s"] == 12.0
    assert row["latency_p95_s"] == 4.0 and row["latency_p95_max_s"] == 12.0
    assert row["changes_detected_pct"] == 100.0 and row["false_changes_per_day"] == 0.0
    assert row["goals_met"] is True
    slow = bench.summarise("sim-normal", "bourg", [_day([4] * 10 + [11] * 2)])
    assert slow["latency_p95_s"] == 11.0
    assert slow["goals"] == {"accuracy": True, "changes_detected": True,
                             "false_changes": True, "latency_p95": False}
    # one change missed in 50 (98 %) meets the goal; one more does not
    one = bench.summarise("sim-hard", "bourg", [_day([4] * 49, missed=1)])
    assert one["changes_detected_pct"] == 98.0 and one["goals"]["changes_detected"] is True
    two = bench.summarise("sim-hard", "bourg", [_day([4] * 48, missed=2)])
    assert two["changes_detected_pct"] == 96.0 and two["goals"]["changes_detected"] is False
