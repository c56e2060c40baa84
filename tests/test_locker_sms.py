"""Issuing locker codes on the host and sending them: registry key, live-code reuse, E.164,
templates, cooldown, no duplicate on retry; outbox, an HTTP gateway (local server) and a GSM
modem answering AT commands on a pty."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import tty
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from host_tools.field.registry import Registry
from host_tools.locker import fw
from host_tools.locker.issue import DEFAULT_HOURS, CodeBook, IssueError
from host_tools.locker.sms import (
    GsmModem,
    HttpGateway,
    Outbox,
    SmsError,
    check_phone,
    provider_from_file,
    render,
    to_gsm_text,
)

codes = fw.load("codes")
T = 1795339800.0  # 2026-11-22T09:30:00Z


@pytest.fixture
def book(tmp_path: Path):
    reg = Registry(tmp_path / "reg.sqlite")
    reg.add("locker-01", "locker", "town")
    reg.add("pole-01", "lighting", "town")
    yield CodeBook(reg)
    reg.close()


def test_every_parcel_gets_a_code_never_issued_before_and_a_resend_the_same(
        book: CodeBook) -> None:
    a = book.issue("locker-01", 3, "pickup", T, 48, now_s=T)
    key = bytes.fromhex(book.reg.secrets("locker-01")["bank_key"])
    assert len(key) >= 16
    r = codes.check(key, "locker-01", a.code, T + 60, codes.Ledger(), lambda c: c == 3)
    assert r.ok and r.kind == "pickup"
    assert book.resend("locker-01", 3, "pickup", now_s=T).code == a.code
    # the next parcel the same day: another code (the first may have been used)
    more = [book.issue("locker-01", 3, "pickup", T + 3600, 12, now_s=T) for _ in range(5)]
    assert len({c.code for c in [a, *more]}) == 6
    for c in more:  # each opens on the board in the hours asked for
        r = codes.check(key, "locker-01", c.code, T + 3600 + 11 * 3600, codes.Ledger(),
                        lambda n: n == 3)
        assert r.ok, c
    with pytest.raises(IssueError, match="issued already"):
        book.issue("locker-01", 3, "pickup", T + 3600, 12, now_s=T)
    deposits = [book.issue("locker-01", 4, "deposit", T, 1, now_s=T) for _ in range(2)]
    assert deposits[0].code != deposits[1].code
    with pytest.raises(IssueError, match="issued already"):
        book.issue("locker-01", 4, "deposit", T, 1, now_s=T)
    assert "code" not in json.dumps(a.public())


def test_issue_refuses_bad_requests(book: CodeBook) -> None:
    with pytest.raises(IssueError, match="not a locker bank"):
        book.issue("pole-01", 3, "pickup", T, 24, now_s=T)
    with pytest.raises(IssueError, match="compartment"):
        book.issue("locker-01", 60, "pickup", T, 24, now_s=T)
    with pytest.raises(IssueError, match="hours"):
        book.issue("locker-01", 3, "deposit", T, 48, now_s=T)
    with pytest.raises(IssueError, match="ended"):
        book.issue("locker-01", 3, "pickup", T - 10 * 86400, 24, now_s=T)


def test_an_admin_code_is_the_banks_and_only_a_lockers(book: CodeBook) -> None:
    admin = book.admin_code("locker-01", now_s=T)
    key = bytes.fromhex(book.reg.secrets("locker-01")["bank_key"])
    r = codes.check(key, "locker-01", admin, T + 60, codes.Ledger(), lambda c: False)
    assert r.ok and r.kind == "admin"
    with pytest.raises(IssueError, match="not a locker bank"):
        book.admin_code("pole-01", now_s=T)


def test_phone_numbers_and_templates() -> None:
    assert check_phone("+33 6 12 34 56 78") == "+33612345678"
    for bad in ("0612345678", "+0612345678", "+33abc", "", "+1234"):
        with pytest.raises(ValueError):
            check_phone(bad)
    fr = render("fr", "pickup", compartment=3, place="Marché", code="0394244438",
                until="24/11 00:00 UTC")
    en = render("en", "pickup", compartment=3, place="Market", code="0394244438",
                until="24 Nov 00:00 UTC")
    assert "0394244438#" in fr and "casier 3" in fr and "locker 3" in en
    assert to_gsm_text("Marché à côté") == "Marche a cote"


def test_outbox_send_once_cooldown_and_later_resend(book: CodeBook, tmp_path: Path) -> None:
    a = book.issue("locker-01", 3, "pickup", T, 48, now_s=T)
    box = Outbox(tmp_path / "out")
    d1 = book.send(a, "+33612345678", "fr", box, now_s=T)
    d2 = book.send(a, "+33612345678", "fr", box, now_s=T + 5)  # a retry: nothing new
    lines = (tmp_path / "out" / "outbox.jsonl").read_text().splitlines()
    assert len(lines) == 1 and d1 == d2
    assert json.loads(lines[0])["to"] == "+33612345678"
    assert a.code + "#" in json.loads(lines[0])["text"]
    book.send(a, "+33612345678", "fr", box, now_s=T + 3600)  # asked again an hour later
    assert len((tmp_path / "out" / "outbox.jsonl").read_text().splitlines()) == 2
    # live codes: only the owner reads them
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "out" / "outbox.jsonl").stat().st_mode & 0o777 == 0o600


def test_issue_or_resend_defaults_to_a_day_or_the_rest_of_the_window(book: CodeBook,
                                                                     tmp_path: Path) -> None:
    """What `bourg locker issue` hands out: without hours, DEFAULT_HOURS cut to the code's
    window (a deposit code's ends at 00:00 UTC); resend gives the last one again."""
    assert book.default_hours("deposit", T) == 14.5  # 09:30 to 00:00 UTC
    assert book.default_hours("pickup", T) == DEFAULT_HOURS
    dep = book.issue_or_resend("locker-01", 2, "deposit", T, now_s=T)
    assert dep.new and dep.valid_until == (int(T) // 86400 + 1) * 86400
    again = book.issue_or_resend("locker-01", 2, "deposit", T, resend=True, now_s=T)
    assert (again.code, again.new) == (dep.code, False)
    config = tmp_path / "sms.json"
    config.write_text(json.dumps({"provider": "outbox", "dir": str(tmp_path / "box")}))
    d = book.send(dep, "+33612345678", "en", provider_from_file(config))
    assert d.provider == "outbox" and dep.code in (tmp_path / "box" / "outbox.jsonl").read_text()
    config.write_text(json.dumps({"provider": "outbox"}))
    with pytest.raises(ValueError, match="the outbox provider needs 'dir'"):
        provider_from_file(config)


class _Gateway(BaseHTTPRequestHandler):
    script: list[int] = []
    seen: list[tuple[str, dict]] = []

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Gateway.seen.append((self.headers["Idempotency-Key"], body))
        code = _Gateway.script.pop(0) if _Gateway.script else 200
        self.send_response(code)
        self.end_headers()
        if code == 200:
            self.wfile.write(json.dumps({"id": f"m{len(_Gateway.seen)}",
                                         "status": "queued"}).encode())

    def log_message(self, *a: object) -> None:
        pass


@pytest.fixture
def gateway():
    srv = HTTPServer(("127.0.0.1", 0), _Gateway)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    _Gateway.script, _Gateway.seen = [], []
    yield f"http://127.0.0.1:{srv.server_address[1]}/sms"
    srv.shutdown()


def test_http_gateway_retries_5xx_with_the_same_key_and_stops_on_4xx(gateway: str) -> None:
    gw = HttpGateway(gateway, {"dest": "{to}", "msg": "{text}", "sender": "BOURG"},
                     tries=3, backoff_s=0.01)
    _Gateway.script = [503, 500]
    d = gw.send("+33612345678", "hello", "key-1")
    assert (d.status, d.ref) == ("queued", "m3")
    assert [k for k, _ in _Gateway.seen] == ["key-1"] * 3
    assert _Gateway.seen[0][1] == {"dest": "+33612345678", "msg": "hello", "sender": "BOURG"}
    _Gateway.script = [400]
    with pytest.raises(SmsError) as e:
        gw.send("+33612345678", "hello", "key-2")
    assert e.value.permanent and len(_Gateway.seen) == 4
    _Gateway.script = [503, 503, 503]
    with pytest.raises(SmsError, match="after 3 tries"):
        gw.send("+33612345678", "hello", "key-3")


def test_http_gateway_unreachable() -> None:
    gw = HttpGateway("http://127.0.0.1:9/none", tries=2, backoff_s=0.01, timeout_s=1)
    with pytest.raises(SmsError, match="unreachable"):
        gw.send("+33612345678", "x", "k")


class FakeModem:
    """A GSM modem on a pty: OK to AT and AT+CMGF=1, '> ' after AT+CMGS, then +CMGS or a
    scripted +CMS ERROR, or silence."""

    def __init__(self, mode: str = "ok") -> None:
        self.master, slave = os.openpty()
        tty.setraw(slave)
        self.port = os.ttyname(slave)
        self.slave = slave
        self.mode = mode
        self.received: list[bytes] = []
        self.stop = False
        threading.Thread(target=self._run, daemon=True).start()

    def _out(self, b: bytes) -> None:
        os.write(self.master, b)

    def _run(self) -> None:
        buf = b""
        in_text = False
        while not self.stop:
            try:
                chunk = os.read(self.master, 256)
            except OSError:
                return
            buf += chunk
            while True:
                if in_text:
                    if b"\x1a" not in buf:
                        break
                    text, buf = buf.split(b"\x1a", 1)
                    self.received.append(text)
                    in_text = False
                    if self.mode == "ok":
                        self._out(b"\r\n+CMGS: 42\r\n\r\nOK\r\n")
                    elif self.mode == "cms":
                        self._out(b"\r\n+CMS ERROR: 38\r\n")
                    elif self.mode == "echo":  # echoes the message, then says no more
                        self._out(text)
                    continue
                if b"\r" not in buf:
                    break
                line, buf = buf.split(b"\r", 1)
                if self.mode == "silent":
                    continue
                if line.startswith(b"AT+CMGS="):
                    self._out(b"\r\n> ")
                    in_text = True
                elif line in (b"AT", b"AT+CMGF=1"):
                    self._out(b"\r\nOK\r\n")
                else:
                    self._out(b"\r\nERROR\r\n")

    def close(self) -> None:
        self.stop = True
        os.close(self.master)
        os.close(self.slave)


def test_gsm_modem_sends_in_text_mode() -> None:
    m = FakeModem("ok")
    try:
        d = GsmModem(m.port, timeout_s=3).send("+33612345678", "Code : 0394244438# é", "k")
        assert (d.provider, d.status, d.ref) == ("gsm", "sent", "42")
        assert m.received == [b"Code : 0394244438# e"]
    finally:
        m.close()


def test_gsm_modem_errors_and_timeouts() -> None:
    m = FakeModem("cms")
    try:
        with pytest.raises(SmsError, match="CMS ERROR 38") as e:
            GsmModem(m.port, timeout_s=3).send("+33612345678", "x", "k")
        assert e.value.permanent
    finally:
        m.close()
    m = FakeModem("silent")
    try:
        with pytest.raises(SmsError, match="did not answer"):
            GsmModem(m.port, timeout_s=1).send("+33612345678", "x", "k")
    finally:
        m.close()


def test_a_modem_that_echoes_the_message_leaks_no_code_in_its_error() -> None:
    m = FakeModem("echo")
    try:
        with pytest.raises(SmsError, match="did not answer") as e:
            GsmModem(m.port, timeout_s=1).send("+33612345678", "Code : 0394244438#", "k")
        assert m.received == [b"Code : 0394244438#"]
        assert "0394244438" not in str(e.value) and "Code : ####" in str(e.value)
    finally:
        m.close()


def test_cli_issue_prints_or_sends(tmp_path: Path) -> None:
    reg_path = tmp_path / "reg.sqlite"
    with Registry(reg_path) as reg:
        reg.add("locker-01", "locker", "town")
    run = [sys.executable, "-m", "host_tools.cli", "locker", "--registry", str(reg_path),
           "issue", "--bank", "locker-01", "--compartment", "3", "--from",
           time.strftime("%Y-%m-%dT%H:%M", time.gmtime()), "--hours", "1"]
    r = subprocess.run(run, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert len(out["code"]) == 13 and out["code"].endswith("#")
    (tmp_path / "sms.json").write_text(json.dumps({"provider": "outbox",
                                                   "dir": str(tmp_path / "box")}))
    r = subprocess.run(run + ["--sms", "33612345678", "--sms-config",
                              str(tmp_path / "sms.json")], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2 and "E.164" in r.stderr, r.stderr
    r = subprocess.run(run + ["--resend", "--sms", "+33612345678", "--sms-config",
                              str(tmp_path / "sms.json")], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert out["code"][:-1] not in r.stdout  # the code goes to the phone, not the terminal
    assert out["code"] in (tmp_path / "box" / "outbox.jsonl").read_text()
    # an SMS config that cannot be used is refused before a code is saved
    codes_before = Registry(reg_path).db.execute("SELECT COUNT(*) FROM locker_codes").fetchone()
    (tmp_path / "bad.json").write_text(json.dumps({"provider": "outbox"}))
    r = subprocess.run(run[:-2] + ["--hours", "2", "--sms", "+33612345678", "--sms-config",
                                   str(tmp_path / "bad.json")], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2 and "needs 'dir'" in r.stderr, r.stderr
    assert Registry(reg_path).db.execute("SELECT COUNT(*) FROM locker_codes").fetchone() == \
        codes_before
    bad = subprocess.run(run[:-4] + ["--bank", "nope"] + run[-4:],  # a window still open
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "not a locker bank" in bad.stderr
    assert oct(reg_path.stat().st_mode & 0o777) == "0o600"


def test_cli_deposit_code_without_hours_is_for_the_rest_of_its_day(tmp_path: Path) -> None:
    """A deposit window ends at 00:00 UTC, so a fixed 24 h default would not fit a code issued
    after midnight and would be refused: without --hours a deposit code takes what is left."""
    reg_path = tmp_path / "reg.sqlite"
    with Registry(reg_path) as reg:
        reg.add("locker-01", "locker", "town")
    day = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86400))
    base = [sys.executable, "-m", "host_tools.cli", "locker", "--registry", str(reg_path),
            "issue", "--bank", "locker-01", "--compartment", "2", "--kind", "deposit",
            "--from", day + "T09:00"]
    r = subprocess.run(base, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["valid_until"] == time.strftime(
        "%Y-%m-%dT00:00Z", time.gmtime(time.time() + 2 * 86400))
    r = subprocess.run(base + ["--hours", "24"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "00:00 UTC" in r.stderr  # asked for explicitly: refused


def test_cli_a_failed_sms_is_sent_again_with_the_same_code(tmp_path: Path) -> None:
    """Each failed send (here an outbox folder that cannot be written) spent a new code, and
    after four the compartment had none left for the day while no customer had one. Now the
    failure is recorded, exit 1, and the next try sends the same code."""
    reg_path = tmp_path / "reg.sqlite"
    with Registry(reg_path) as reg:
        reg.add("locker-01", "locker", "town")
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the outbox folder should be")
    (tmp_path / "bad.json").write_text(json.dumps({"provider": "outbox",
                                                   "dir": str(blocked / "box")}))
    (tmp_path / "good.json").write_text(json.dumps({"provider": "outbox",
                                                    "dir": str(tmp_path / "box")}))
    run = [sys.executable, "-m", "host_tools.cli", "locker", "--registry", str(reg_path),
           "issue", "--bank", "locker-01", "--compartment", "3", "--from",
           time.strftime("%Y-%m-%dT%H:%M", time.gmtime()), "--hours", "1",
           "--sms", "+33612345678", "--sms-config"]
    for _ in range(5):
        r = subprocess.run(run + [str(tmp_path / "bad.json")], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 1 and "SMS not sent: outbox:" in r.stderr, r.stderr
    assert Registry(reg_path).db.execute("SELECT COUNT(*) FROM locker_codes").fetchone() == (1,)
    r = subprocess.run(run + [str(tmp_path / "good.json")], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert len((tmp_path / "box" / "outbox.jsonl").read_text().splitlines()) == 1
    assert Registry(reg_path).db.execute("SELECT COUNT(*) FROM locker_codes").fetchone() == (1,)
    # a failed send, then a retry asking for a window today's code does not cover (pickup
    # codes live 3 days from their start day): a code for that window, not today's
    r = subprocess.run(run[:8] + ["locker-01", "--compartment", "3", "--kind", "pickup",
                                  "--from", time.strftime("%Y-%m-%dT%H:%M", time.gmtime()),
                                  "--sms", "+33699999999", "--sms-config",
                                  str(tmp_path / "bad.json")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1, r.stderr
    tomorrow = time.strftime("%Y-%m-%dT%H:%M", time.gmtime(time.time() + 86400))
    r = subprocess.run(run[:8] + ["locker-01", "--compartment", "3", "--kind", "pickup",
                                  "--from", tomorrow, "--hours", "60", "--sms", "+33699999999",
                                  "--sms-config", str(tmp_path / "good.json")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["valid_from"].startswith(tomorrow[:10])
    (tmp_path / "typed.json").write_text(json.dumps({"provider": "outbox", "dir": 5}))
    r = subprocess.run(run + [str(tmp_path / "typed.json")], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2 and "wrong type" in r.stderr and "internal" not in r.stderr
