"""Locker codes from the console: a merchant sends a code for its own bank by SMS; the code
reaches the phone and nothing else (not the answer, the page, the audit or the console's
database), no code is handed out twice, and other roles and banks are refused."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bourg_console.accounts import Accounts
from bourg_console.codedesk import CodeDesk, CodeDeskError
from bourg_console.db import open_engine
from bourg_console.store import Store
from bourg_console.topics import parse
from bourg_console.web import create_app
from host_tools.field.registry import Registry

PW = "correct horse battery"
NOW = 1_780_000_000.0  # noon-ish UTC, a fixed day


class Desk:
    def __init__(self, tmp_path: Path) -> None:
        self.reg_path = tmp_path / "registry.sqlite"
        with Registry(self.reg_path) as reg:
            reg.add("locker-01", "locker", "town", compartments=[1, 2, 3])
            reg.add("locker-02", "locker", "town", compartments=[1])
        self.outbox = tmp_path / "sms"
        sms = tmp_path / "sms.json"
        sms.write_text(json.dumps({"provider": "outbox", "dir": str(self.outbox)}))
        self.db = tmp_path / "console.sqlite"
        engine = open_engine(str(self.db))
        self.store, self.accounts = Store(engine), Accounts(engine)
        for bank in ("locker-01", "locker-02"):
            self.store.apply(parse(f"bourg/town/{bank}/info",
                                   json.dumps({"role": "locker", "mode": "normal"}).encode()),
                             NOW)
        for name, role, bank in (("olga", "operator", None), ("tom", "technician", None),
                                 ("mia", "merchant", "locker-01"),
                                 ("max", "merchant", "locker-02")):
            self.accounts.add_user(name, role, PW, 0.0, bank=bank)
        self.desk = CodeDesk(self.reg_path, sms)
        self.client = TestClient(create_app(self.store, self.accounts, now=lambda: NOW,
                                            desk=self.desk),
                                 follow_redirects=False)

    def login(self, name: str) -> str:
        c = self.client
        c.cookies.clear()
        token = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
        c.post("/login", data={"name": name, "password": PW, "csrf": token})
        return re.search(r'name="csrf" value="([^"]+)"', c.get("/").text).group(1)

    def ask(self, csrf: str, bank: str = "locker-01", **body: object):  # noqa: ANN201
        req = {"compartment": 2, "kind": "pickup", "phone": "+33612345678", **body}
        return self.client.post(f"/api/v1/lockers/{bank}/codes", json=req,
                                headers={"X-CSRF-Token": csrf})

    def sms(self) -> list[dict]:
        f = self.outbox / "outbox.jsonl"
        return [json.loads(x) for x in f.read_text().splitlines()] if f.exists() else []


@pytest.fixture
def desk(tmp_path: Path) -> Desk:
    return Desk(tmp_path)


def test_a_merchant_sends_a_code_that_only_the_phone_sees(desk: Desk) -> None:
    csrf = desk.login("mia")
    r = desk.ask(csrf)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["bank"], body["compartment"], body["kind"], body["status"]) == \
        ("locker-01", 2, "pickup", "sent")
    assert body["phone"] == "+33*******78"
    [sms] = desk.sms()
    assert sms["to"] == "+33612345678"
    code = re.search(r"(\d{10,})#", sms["text"]).group(1)
    assert code not in r.text
    page = desk.client.get("/lockers").text
    assert code not in page and "+33*******78" in page  # the delivery, listed
    assert desk.desk.recent("locker-01")[0]["status"] == "sent"
    assert code not in json.dumps(desk.accounts.audit_log())
    desk.store.engine.dispose()
    for f in desk.db.parent.glob("console.sqlite*"):
        assert code.encode() not in f.read_bytes()
    assert desk.accounts.audit_log()[0]["action"] == "code_sent"


def test_each_request_is_a_new_code_and_none_is_sent_twice(desk: Desk) -> None:
    """Merchants asking at the same instant: each gets a new code or a reason, never a code
    handed out already, never an internal error (issuing is serialized)."""
    outcomes: list[str] = []
    for compartment in (1, 2, 3):
        gate = threading.Barrier(8)

        def one(n: int = compartment, gate: threading.Barrier = gate) -> None:
            gate.wait()
            try:
                desk.desk.issue_and_send("locker-01", n, "pickup", "+33612345678", "fr", NOW)
                outcomes.append("sent")
            except CodeDeskError:
                outcomes.append("refused")
            except Exception as e:  # noqa: BLE001 - what the test looks for
                outcomes.append(repr(e))

        threads = [threading.Thread(target=one) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    codes = [re.search(r"(\d{10,})#", s["text"]).group(1) for s in desk.sms()]
    # a compartment has two pickup codes per start day, and a day's code from now covers two
    # start days (a pickup code lasts three days from 00:00 UTC of its first): four each
    assert sorted(outcomes) == ["refused"] * 12 + ["sent"] * 12
    assert len(codes) == 12 == len(set(codes))


def test_other_banks_and_roles_are_refused(desk: Desk) -> None:
    csrf = desk.login("max")
    assert desk.ask(csrf).status_code == 403  # another merchant's bank
    assert [b["bank"] for b in desk.client.get("/api/v1/lockers").json()] == ["locker-02"]
    csrf = desk.login("tom")
    assert desk.ask(csrf).status_code == 403  # a technician sees but issues nothing
    assert len(desk.client.get("/api/v1/lockers").json()) == 2
    csrf = desk.login("mia")
    assert desk.ask("forged").status_code == 403
    assert desk.ask(csrf, bank="locker-09").status_code == 403
    assert desk.sms() == []
    csrf = desk.login("olga")
    assert desk.ask(csrf, bank="locker-02", compartment=1).status_code == 200


@pytest.mark.parametrize("body, says", [
    ({"phone": "0612"}, "E.164"),
    ({"compartment": 7}, "has no compartment 7"),
    ({"kind": "steal"}, "kind must be one of"),
    ({"lang": "tlh"}, "language must be one of"),
])
def test_a_refused_code_says_why_and_sends_nothing(desk: Desk, body: dict, says: str) -> None:
    csrf = desk.login("mia")
    r = desk.ask(csrf, **body)
    assert r.status_code == 422 and says in r.json()["detail"], r.text
    assert desk.sms() == []
    assert desk.accounts.audit_log()[0]["action"] == "code_refused"


def test_the_merchants_form_shows_the_delivery(desk: Desk) -> None:
    csrf = desk.login("mia")
    r = desk.client.post("/lockers/locker-01/codes", data={
        "csrf": csrf, "compartment": "1", "kind": "deposit", "phone": "+33612345678",
        "lang": "en"})
    assert r.status_code == 200 and "sent to +33*******78" in r.text
    r = desk.client.post("/lockers/locker-01/codes", data={
        "csrf": csrf, "compartment": "1", "kind": "deposit", "phone": "nope"})
    assert 'class="error"' in r.text and "E.164" in r.text


def test_a_failed_sms_spends_no_code_and_the_retry_sends_the_same_one(desk: Desk,
                                                                      tmp_path: Path) -> None:
    """A provider down: the merchant is told, with none of the provider's words, and asking
    again sends the code that was not delivered rather than a new one; a language the
    templates lack is refused before any code is spent."""
    csrf = desk.login("mia")
    for _ in range(5):
        assert desk.ask(csrf, lang="tlh").status_code == 422
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"provider": "http", "url": "http://127.0.0.1:9/x",
                                  "tries": 1}))
    desk.desk.sms_config = broken
    r = desk.ask(csrf)
    assert r.status_code == 422 and "the same code is sent" in r.json()["detail"]
    assert "127.0.0.1" not in r.text  # the provider's own words stay out
    desk.desk.sms_config = desk.outbox.parent / "sms.json"
    assert desk.ask(csrf).status_code == 200
    assert desk.ask(csrf).status_code == 200  # a new parcel: a new code
    codes = [re.search(r"(\d{10,})#", s["text"]).group(1) for s in desk.sms()]
    with Registry(desk.reg_path) as reg:
        issued = [r[0] for r in reg.db.execute(
            "SELECT code FROM locker_codes WHERE compartment=2 ORDER BY created, seq")]
    assert len(issued) == 2 and codes == issued  # the failed one was sent, then one more


def test_the_form_refuses_a_compartment_out_of_range(desk: Desk) -> None:
    csrf = desk.login("mia")
    r = desk.client.post("/lockers/locker-01/codes", data={
        "csrf": csrf, "compartment": "0", "kind": "pickup", "phone": "+33612345678"})
    assert r.status_code == 200 and "compartment must be 1..255" in r.text


def test_a_cold_chain_chart_marks_the_periods_over_the_limit_and_escapes_its_labels() -> None:
    from bourg_console.charts import ranges

    svg = ranges(["10:00", "<b>"], [-18.5, -20.0], [-17.0, -12.0], limit=-15.0, unit="°C",
                 title="freezer <1>")
    assert svg.count('fill="#b03030"') == 1 and "stroke-dasharray" in svg
    assert "<b>" not in svg and "&lt;b&gt;" in svg and "freezer &lt;1&gt;" in svg
    assert "no data yet" in ranges(["10:00"], [None], [None], title="t")


def test_a_hole_in_the_cold_chain_series_shows_as_empty_periods() -> None:
    from bourg_console.fiware import iso
    from bourg_console.web_lockers import cold_charts

    def row(t: float) -> dict[str, object]:
        return {"compartment": 2, "ended": iso(t), "ended_at": t, "every_s": 900,
                "min_c": 3.0, "max_c": 4.0, "last_c": 3.5, "failed": 0, "limit_c": 8.0}

    t0 = 1_800_000_000.0
    [svg] = cold_charts([row(t0), row(t0 + 900), row(t0 + 3600)])
    assert svg.count("<rect") == 3
    assert svg.count("<text") == 1 + 5  # the title, and a label per period, holes included
