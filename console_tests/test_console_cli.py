"""`bourg console` from the command line: bad arguments get one line and exit 2, and the
service starts, serves, and stops on SIGTERM. The command is run in this process through
`host_tools.cli.main`, as the `bourg` script runs it (a new interpreter for each case would
cost seconds); the service's own test runs it as a process."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx2 as httpx
import pytest

from host_tools.emulator.waiting import wait_until
from host_tools.field.mosquitto import Mosquitto, free_port


def _bourg(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """`bourg console ARGS` in this process: its exit code, stdout and stderr."""
    import contextlib
    import io

    from host_tools.cli import main

    out, err = io.StringIO(), io.StringIO()
    real_stdin = sys.stdin
    sys.stdin = io.StringIO(stdin)  # not a terminal: add-user reads the password from it
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = main(["console", *args])
            except SystemExit as e:  # argparse's own refusals
                rc = int(e.code or 0)
    finally:
        sys.stdin = real_stdin
    return subprocess.CompletedProcess(args, rc, out.getvalue(), err.getvalue())


@pytest.mark.parametrize("args, says", [
    (["serve", "--site", "t", "--broker", "http://x"], "--broker wants mqtt://"),
    (["serve", "--site", "t", "--broker", "mqtts://x"], "mqtts:// needs --ca --cert --key too"),
    (["serve", "--site", "t", "--broker", "mqtt://x", "--ca", "ca.crt"], "are for TLS"),
    (["serve", "--site", "t", "--broker", "mqtt://x", "--password-file", "/nope"],
     "cannot read the --password-file /nope"),
    (["serve", "--site", "t", "--broker", "mqtt://x", "--listen", "8080"],
     "--listen wants HOST:PORT"),
    (["serve", "--site", "t", "--broker", "mqtt://x", "--on-call", "+33600000001"],
     "--on-call and --escalate-to need --notify-sms"),
    (["serve", "--site", "t", "--broker", "mqtt://x", "--notify-sms", "/nope.json",
      "--on-call", "+33600000001"], "alarm notifications:"),
    (["serve", "--site", "t", "--broker", "mqtt://x", "--max-stay", "A=soon"],
     "--max-stay wants ZONE=MINUTES"),
    (["serve", "--site", "t", "--broker", "mqtt://x", "--registry", "/nope.sqlite"],
     "--registry and --sms go together"),
])
def test_bad_arguments_get_one_line_and_exit_2(args: list[str], says: str,
                                               tmp_path: Path) -> None:
    r = _bourg(*args, "--db", str(tmp_path / "c.sqlite"))
    assert r.returncode == 2, r.stderr
    assert says in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "c.sqlite").exists()  # refused before anything was made


def test_a_database_it_cannot_use_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "c.sqlite").write_text("not a database, a note someone left")
    r = _bourg("migrate", "--db", str(tmp_path / "c.sqlite"))
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith("bourg console: cannot use the database"), r.stderr


def test_migrate_names_the_schema_revision(tmp_path: Path) -> None:
    r = _bourg("migrate", "--db", str(tmp_path / "c.sqlite"))
    assert r.returncode == 0 and r.stdout.strip().endswith("schema at revision 0009"), r


@pytest.mark.slow
def test_serve_answers_and_stops_on_sigterm(tmp_path: Path, mosquitto: Mosquitto) -> None:
    pw = tmp_path / "ops.txt"
    pw.write_text(mosquitto.ops_password + "\n")
    port = free_port()
    p = subprocess.Popen([sys.executable, "-m", "host_tools.cli", "console", "serve",
                          "--site", "t", "--broker", f"mqtt://127.0.0.1:{mosquitto.port}",
                          "--user", mosquitto.ops_user, "--password-file", str(pw),
                          "--db", str(tmp_path / "c.sqlite"), "--listen", f"127.0.0.1:{port}"],
                         stderr=subprocess.PIPE, text=True)
    try:
        def answers() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/api/v1/parking/zones").json() == []
            except httpx.TransportError:
                return False

        wait_until(answers, 30, "the console did not answer")
        assert "FIWARE" in httpx.get(f"http://127.0.0.1:{port}/").text
        spec = httpx.get(f"http://127.0.0.1:{port}/api/v1/openapi.json").json()
        assert "/api/v1/parking/spots" in spec["paths"]
    finally:
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    assert "Traceback" not in err


def test_add_user_makes_an_account_that_can_log_in(tmp_path: Path) -> None:
    from bourg_console.accounts import Accounts
    from bourg_console.db import open_engine

    db = str(tmp_path / "c.sqlite")
    pw = tmp_path / "pw.txt"
    pw.write_text("a long enough password\n")
    r = _bourg("add-user", "olga", "--role", "operator", "--password-file", str(pw),
               "--db", db)
    assert r.returncode == 0, r.stderr
    r = _bourg("add-user", "mia", "--role", "merchant", "--bank", "locker-01", "--db", db,
               stdin="another long password\n")
    assert r.returncode == 0, r.stderr
    accounts = Accounts(open_engine(db))
    assert accounts.login("olga", "a long enough password", 1.0).user.role == "operator"
    assert accounts.login("mia", "another long password", 1.0).user.bank == "locker-01"


@pytest.mark.parametrize("args, says", [
    (["--role", "operator", "--password-file", "/nope"], "cannot read the --password-file"),
    (["--role", "merchant"], "a merchant needs --bank"),
])
def test_add_user_refusals_are_one_line(tmp_path: Path, args: list[str], says: str) -> None:
    r = _bourg("add-user", "x", *args, "--db", str(tmp_path / "c.sqlite"), stdin="short\n")
    assert r.returncode == 2 and says in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
