"""Row replay (host_tools/parking/row_replay.py) and row scoring (rows.py) on an hour of the
shared rows (../shared/parking/rows, outside the repository: read, never copied; missing data
fails the test, naming the path).

The information rule (ROW-FORMAT.md): a node's decision uses only its own samples up to that
second and the totem's ACKs. Each check here is run once more on a deliberately leaky replay
(a sensor that reads ahead, or one that mixes in another bay's field) to show it catches it.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import pytest

from host_tools.commands import parking as cli
from host_tools.parking import row_replay, rows, traces
from host_tools.parking.traces import Trace

HARD = "row-hard-0022"
# an hour of the hard row in which the totem's word changes B3's decisions (1 Hz node)
HOUR = (20000, 23600)


def _row(name: str, start: int, stop: int) -> rows.Row:
    path = traces.shared_dir() / "rows" / name
    if not (path / "row.json").is_file():
        pytest.fail(f"shared row data missing: {path} (ROW-FORMAT.md rows are needed here)")
    return rows.load_row(path).slice(start, stop)


@pytest.fixture(scope="module")
def hard_hour() -> rows.Row:
    return _row(HARD, *HOUR)


def _poison(tr: Trace, start: int, seed: int) -> Trace:
    """The trace with every sample from ``start`` on replaced by a wild field."""
    rng = random.Random(seed)
    n = len(tr)

    def col(xs: list[float]) -> list[float]:
        return xs[:start] + [rng.uniform(-200, 200) for _ in range(n - start)]
    return Trace(tr.t, col(tr.bx), col(tr.by), col(tr.bz), tr.temp, tr.occupied, tr.meta)


class _ReadsAhead(row_replay.Sensor):
    """A leaky sensor: the sample a second from now."""

    def read(self, i: int) -> tuple[float, float, float, float]:
        n = len(self._cols[0])
        return super().read(min(i + 1, n - 1))


def _reads_ahead(row: rows.Row, k: int) -> row_replay.Sensor:
    tr = row.traces[k]
    return _ReadsAhead(tr.bx, tr.by, tr.bz, tr.temp)


def _hears_neighbour(row: rows.Row, k: int) -> row_replay.Sensor:
    """A leaky sensor: its own field plus a tenth of the next bay's raw field's change."""
    own, nb = row.traces[k], row.traces[(k + 1) % len(row.ids)]

    def mix(a: list[float], b: list[float]) -> list[float]:
        return [x + 0.1 * (y - b[0]) for x, y in zip(a, b, strict=True)]
    return row_replay.Sensor(mix(own.bx, nb.bx), mix(own.by, nb.by), mix(own.bz, nb.bz),
                             own.temp)


def _future_leaks(row: rows.Row, det: str) -> list[str]:
    """Bays whose decisions (and detector state) up to second T differ between a replay that
    stops at T and one that goes on over wild samples of every bay after T."""
    cut = len(row.t) // 2
    short = row_replay.replay_row(row.slice(0, cut), det, snapshot_at=cut - 1)
    poisoned = rows.Row(row.ids, [_poison(tr, cut, k) for k, tr in enumerate(row.traces)],
                        row.layout, row.pitch_m, row.unsensed_ends)
    full = row_replay.replay_row(poisoned, det, snapshot_at=cut - 1)
    return [b for b in row.ids if full.preds[b][:cut] != short.preds[b]
            or full.states[b] != short.states[b]]


@pytest.mark.parametrize("det", row_replay.DETECTORS)
def test_no_node_decides_on_a_sample_from_its_future(hard_hour: rows.Row, det: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    assert _future_leaks(hard_hour, det) == []
    monkeypatch.setattr(row_replay, "make_sensor", _reads_ahead)
    assert _future_leaks(hard_hour, det) != [], "the check must catch a node reading ahead"


def _other_bay_leaks(row: rows.Row, det: str, k: int, totem: bool) -> bool:
    """Does bay k decide differently when every other bay's raw field is wild, while the
    totem's ACKs to bay k are those of the true row (recorded, then played back)?"""
    tape: list[bytes | None] = []

    def record(j: int, ms: int, ack: bytes | None) -> bytes | None:
        if j == k:
            tape.append(ack)
        return ack
    true = row_replay.replay_row(row, det, totem=totem, tap=record,
                                 snapshot_at=len(row.t) - 1)
    played = iter(tape)

    def play(j: int, ms: int, ack: bytes | None) -> bytes | None:
        return next(played, None) if j == k else ack
    others = [tr if j == k else _poison(tr, 0, j) for j, tr in enumerate(row.traces)]
    wild = rows.Row(row.ids, others, row.layout, row.pitch_m, row.unsensed_ends)
    got = row_replay.replay_row(wild, det, totem=totem, tap=play, snapshot_at=len(row.t) - 1)
    b = row.ids[k]
    return got.preds[b] != true.preds[b] or got.states[b] != true.states[b]


@pytest.mark.parametrize("totem", [True, False])
def test_no_node_hears_another_bays_field(hard_hour: rows.Row, totem: bool,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    assert not _other_bay_leaks(hard_hour, "bourg", 2, totem)
    monkeypatch.setattr(row_replay, "make_sensor", _hears_neighbour)
    assert _other_bay_leaks(hard_hour, "bourg", 2, totem), "the check must catch the leak"


def test_the_totems_word_reaches_the_node_in_this_hour(hard_hour: rows.Row) -> None:
    """The other-bay check above means something only if the ACKs played back matter."""
    with_word = row_replay.replay_row(hard_hour, "bourg", totem=True)
    alone = row_replay.replay_row(hard_hour, "bourg", totem=False)
    assert with_word.activity["B3"].answered >= 1
    assert with_word.preds["B3"] != alone.preds["B3"]


def test_the_node_alone_is_the_single_bay_replay(hard_hour: rows.Row) -> None:
    """Without the totem's word, a 1 Hz node's decisions are traces.replay's (the radio's
    losses only cost retries), so the row replay drives the same detector the same way."""
    got = row_replay.replay_row(hard_hour, "bourg", totem=False, seed=3)
    for b, tr in zip(hard_hour.ids, hard_hour.traces, strict=True):
        assert got.preds[b] == traces.replay(tr), b


def test_the_totem_is_told_the_rows_an_installer_would_write(hard_hour: rows.Row) -> None:
    assert row_replay.totem_rows(hard_hour) == [hard_hour.ids]
    ends = rows.Row(["A", "B"], hard_hour.traces[:2], unsensed_ends=True)
    assert row_replay.totem_rows(ends) == [["", "A", "B", ""]]


def test_the_radio_is_seeded_and_lossy(hard_hour: rows.Row) -> None:
    a = row_replay.replay_row(hard_hour, "bourg_gated", seed=1)
    b = row_replay.replay_row(hard_hour, "bourg_gated", seed=1)
    assert a.preds == b.preds and a.activity == b.activity
    lossy = row_replay.replay_row(hard_hour, "bourg_gated",
                                  radio=row_replay.RadioModel(loss=0.5))
    assert sum(x.lost + x.acks_lost for x in lossy.activity.values()) > 0
    clean = row_replay.replay_row(hard_hour, "bourg_gated", radio=row_replay.RadioModel(loss=0))
    assert sum(x.lost + x.acks_lost for x in clean.activity.values()) == 0


def _cli(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    cli.add_arguments(p)
    return cli.main(p.parse_args(argv))


def test_replay_row_and_score_row_from_the_command_line(
        hard_hour: rows.Row, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    row_dir = tmp_path / "row"  # an hour of the shared row, in the test's own temp folder
    row_dir.mkdir()
    bays = []
    for b, tr in zip(hard_hour.ids, hard_hour.traces, strict=True):
        t0 = tr.t[0]
        traces.write_trace(row_dir / f"{b}.csv.gz", Trace([t - t0 for t in tr.t], tr.bx,
                                                          tr.by, tr.bz, tr.temp, tr.occupied))
        bays.append({"id": b, "trace": f"{b}.csv.gz", "position_m": 0.0})
    (row_dir / "row.json").write_text(json.dumps({"layout": "parallel", "pitch_m": 5.0,
                                                  "bays": bays, "unsensed_ends": False}))
    out = tmp_path / "out"
    assert _cli(["replay-row", str(row_dir), "--out", str(out), "--detector",
                 "bourg_gated"]) == 0
    assert json.loads(capsys.readouterr().out)["activity_per_day"]["B1"]["samples"] > 0
    assert sorted(p.name for p in out.iterdir()) == [f"{b}.pred.csv" for b in hard_hour.ids]
    assert _cli(["score-row", str(row_dir), str(out)]) == 0
    res = json.loads(capsys.readouterr().out)
    assert set(res["per_bay"]) == set(hard_hour.ids)
    assert res["pooled"]["true_changes"] == sum(
        s["true_arrivals"] + s["true_departures"] for s in res["per_bay"].values())


def test_pooling_weighs_bays_by_their_scored_samples() -> None:
    t = [float(i) for i in range(400)]
    truth = [0] * 200 + [1] * 200
    a = Trace(t, [0.0] * 400, [0.0] * 400, [0.0] * 400, [0.0] * 400, truth)
    b = Trace(t, [0.0] * 400, [0.0] * 400, [0.0] * 400, [0.0] * 400, [0] * 400)
    row = rows.Row(["A", "B"], [a, b])
    late = [0] * 210 + [1] * 190  # A's arrival 10 s late
    wrong = [0] * 300 + [1] * 100  # B: a false arrival, 100 samples wrong
    res = rows.score_preds(row, {"A": late, "B": wrong})
    pooled = res["pooled"]
    assert pooled["scored_samples"] == 339 + 400
    assert pooled["accuracy_pct"] == round(100.0 * (339 + 300) / 739, 3)
    assert pooled["changes_detected_pct"] == 100.0 and pooled["false_changes"] == 1
    assert pooled["latency_p95_s"] == 10.0


class _Asking:
    """The node's detector, made to ask the totem about its neighbours when told to."""

    def __init__(self, det: object) -> None:
        self._det, self.asking = det, False

    def __getattr__(self, name: str) -> object:
        return getattr(self._det, name)

    @property
    def wants_hint(self) -> bool:
        return self.asking


def test_a_report_lost_then_settled_by_an_acked_question_is_not_retried() -> None:
    """The node's report goes unheard; the next second it asks the totem about its
    neighbours, and that heartbeat's ACK carries the report's news: no retry follows."""
    rep = row_replay.fw.load("reports")
    key = bytes(range(16))
    node = row_replay.RowNode(1, key, gated=False)
    node.det = _Asking(node.det)
    node.start(0)
    tx = node._radio(0)
    assert tx is not None and tx.kind == "report"
    node.finish(0, tx, None)
    node.det.asking = True
    question = node._radio(1)
    assert question is not None and question.kind == "heartbeat" and question.wait
    ack = rep.encode(key, rep.ACK, 1, node.up.epoch, question.seq)
    node.finish(1, question, ack)
    node.det.asking = False
    assert [node._radio(t) for t in range(2, 60)] == [None] * 58
    assert node.act.reports == 1
