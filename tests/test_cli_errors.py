"""Every command a technician runs, given a missing file, a dead port or a read-only
registry: one line saying what is wrong, the exit code docs/field-tools.md promises (2 for
bad input, 1 for a failed check), and never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from host_tools.field.registry import Registry

REPO = Path(__file__).resolve().parents[1]
CFG = "board_configs/locker-01.json"
DEAD = "/dev/ttyUSB9"

CASES = [  # (arguments, exit code); NOPE is a file that does not exist, RO a read-only registry
    (["config", "validate", "NOPE"], 2),
    (["config", "show", "NOPE"], 2),
    (["config", "diff", CFG, "--port", DEAD], 2),
    (["config", "diff", CFG, "--port", CFG], 2),  # a file, not a port: was "stopped answering"
    (["deploy", "NOPE", "--port", DEAD], 2),
    (["deploy", CFG, "--port", DEAD], 2),
    (["deploy", CFG, "--port", DEAD, "--secrets", "NOPE"], 2),
    (["provision", "add", "NOPE"], 2),
    (["provision", "add", CFG, "--port", DEAD], 2),
    (["provision", "site", "t", "--ssid", "s", "--wifi-password-file", "NOPE"], 2),
    (["provision", "site", "t", "--ssid", "s", "--wifi-password-file", CFG, "--registry", "RO"],
     2),
    (["provision", "rotate", "locker-01", "--key", "mqtt", "--registry", "RO"], 2),
    (["provision", "show", "nobody", "--registry", "RO"], 1),
    (["provision", "list", "--registry", "NOPE", "--json"], 2),  # was [] and exit 0
    (["provision", "mosquitto", "--out", "OUT", "--ops-password-file", "NOPE"], 2),
    (["provision", "mosquitto", "--out", "OUT", "--ops-cert-out", "OUT"], 2),  # was ignored
    (["provision", "secrets", "locker-01", "--out", "/dev/null/x", "--registry", "RW"], 2),
    (["provision", "add", "BAD"], 1),
    (["deploy", "BAD", "--port", DEAD], 1),
    (["locker", "issue", "--bank", "locker-01", "--compartment", "1", "--from", "now",
      "--registry", "RO"], 2),
    (["locker", "issue", "--bank", "locker-01", "--compartment", "9", "--from", "now",
      "--registry", "RW"], 2),
    (["locker", "issue", "--bank", "locker-01", "--compartment", "1", "--from", "someday",
      "--registry", "RW"], 2),
    (["locker", "issue", "--bank", "locker-01", "--compartment", "1", "--from", "now",
      "--registry", "NOPE"], 2),
    (["flash", "NOPE", "--port", DEAD], 2),
    (["flash", CFG, "--dry-run"], 2),
    (["emulate", "NOPE"], 2),
    (["hil", "--port", DEAD], 2),
    (["monitor", "--broker", "mqtt://127.0.0.1:1", "--site", "t", "--user", "u",
      "--password-file", "NOPE"], 2),
    (["lighting", "simulate", "NOPE", "--out", "OUT"], 2),
    (["parking", "replay", "NOPE", "--out", "OUT"], 2),
    (["parking", "score", "NOPE", "NOPE"], 2),
    (["doctor", "--port", DEAD], 1),
    # numbers that are typing mistakes: nan minutes was an internal error, nan seconds a
    # busy loop, -5 hours issued a code, a -5 baud flash exited 0
    (["update", "--role", "lighting", "--version", "1.0", "--dry-run", "--health-minutes",
      "nan"], 2),
    (["update", "--role", "lighting", "--version", "1.0", "--dry-run", "--wave-timeout",
      "inf"], 2),
    (["locker", "issue", "--bank", "locker-01", "--compartment", "1", "--from", "now",
      "--hours", "-5", "--registry", "RW"], 2),
    (["flash", CFG, "--dry-run", "--baud", "-5"], 2),
    (["deploy"], 2),
    (["no-such-command"], 2),
]


@pytest.fixture(scope="module")
def registries(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("reg")
    rw, ro = d / "rw.sqlite", d / "ro.sqlite"
    for path in (rw, ro):
        with Registry(path) as reg:
            reg.add("locker-01", "locker", "t", compartments=[1, 2, 3])  # as provision add
    ro.chmod(0o400)
    return {"RW": rw, "RO": ro}


@pytest.mark.parametrize("args, code", CASES, ids=[" ".join(a[:2]) + f"-{i}"
                                                   for i, (a, _) in enumerate(CASES)])
def test_bad_input_is_one_clear_line(args: list[str], code: int, tmp_path: Path,
                                     registries: dict[str, Path]) -> None:
    (tmp_path / "bad.json").write_text('{"schema": 1, "device_id": "x"}')
    names = {"NOPE": str(tmp_path / "nope.json"), "OUT": str(tmp_path / "out"),
             "BAD": str(tmp_path / "bad.json"),
             **{k: str(v) for k, v in registries.items()}}
    argv = [names.get(a, a) for a in args]
    env = {**os.environ, "BOURG_REGISTRY": str(tmp_path / "none.sqlite")}
    r = subprocess.run([sys.executable, "-m", "host_tools.cli", *argv], capture_output=True,
                       text=True, timeout=120, cwd=REPO, env=env)
    assert "Traceback" not in r.stderr + r.stdout, r.stderr
    assert "internal error" not in r.stderr, r.stderr
    assert r.returncode == code, (r.returncode, r.stdout[-1000:], r.stderr[-1000:])
    assert r.stderr.strip() or r.stdout.strip(), "said nothing"
    ro = registries["RO"]
    assert oct(ro.stat().st_mode & 0o777) == oct(0o400)  # never chmod-ed behind our back


def test_a_missing_package_is_a_setup_hint_but_a_bug_in_bourg_is_not() -> None:
    """cli._missing_dependency: only a third-party module that is not installed gets the
    "run make setup" answer; a broken import inside bourg must not hide behind it."""
    from host_tools import commands as cli

    assert cli._missing_dependency(ModuleNotFoundError("x", name="esptool"))
    assert not cli._missing_dependency(ModuleNotFoundError("x", name="host_tools.gone"))
    assert not cli._missing_dependency(ImportError("cannot import name 'f'",
                                                   name="host_tools.field.deploy"))


def test_a_checkout_without_make_setup_is_told_so_not_called_a_bug(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The pinned umqtt is fetched by `make setup`: a command that stages firmware without it
    says so in one line, not as an internal error."""
    from host_tools import cli
    from host_tools.build import mpy

    monkeypatch.setattr(mpy, "UMQTT_SOURCE", tmp_path / "umqtt_pinned.py")
    code = cli.main(["soak", "--hours", "1", "--boards", "ft-1", "--workdir",
                     str(tmp_path / "soak")])
    err = capsys.readouterr().err
    assert code == 1 and "run `make setup`" in err
    assert "internal error" not in err and "Traceback" not in err


def test_an_argument_that_is_not_utf8_is_one_line() -> None:
    """`bourg provision show $'\\xff'` was an internal UnicodeEncodeError."""
    r = subprocess.run([sys.executable.encode(), b"-m", b"host_tools.cli", b"provision",
                        b"show", b"\xff"], capture_output=True, timeout=60, cwd=REPO)
    assert r.returncode == 2 and b"is not UTF-8 text" in r.stderr
    assert b"internal error" not in r.stderr and b"Traceback" not in r.stderr


def test_a_read_only_registry_that_never_held_a_code_still_gives_admin_codes(
        tmp_path: Path) -> None:
    """The docs say a read-only registry is still read; `locker admin` failed with "attempt
    to write a readonly database" when the registry had no code tables yet."""
    ro = tmp_path / "ro.sqlite"
    with Registry(ro) as reg:
        reg.add("locker-01", "locker", "t", compartments=[1])
    ro.chmod(0o400)
    run = [sys.executable, "-m", "host_tools.cli", "locker", "--registry", str(ro)]
    r = subprocess.run(run + ["admin", "--bank", "locker-01"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and len(r.stdout.strip()) == 20, r.stderr
    r = subprocess.run(run + ["issue", "--bank", "locker-01", "--compartment", "1", "--from",
                              "now", "--resend"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "no live pickup code" in r.stderr, r.stderr
