"""Every route of the console, fuzzed as every role: random path parameters, queries, JSON
bodies and forms, with and without the CSRF token. No answer is a 5xx, and no role reads or
changes what it may not (the matrix below)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bourg_console.accounts import Accounts
from bourg_console.codedesk import CodeDesk
from bourg_console.db import open_engine
from bourg_console.store import Store
from bourg_console.topics import parse
from bourg_console.web import create_app
from host_tools.field.registry import Registry

PW = "correct horse battery"
ROLES = ("public", "merchant", "technician", "operator")
# what each role may GET (200); anything else must not be 200 for it
STAFF_PAGES = ("/fleet", "/api/v1/fleet", "/alarms", "/api/v1/alarms", "/api/v1/alarms.csv",
               "/lights", "/api/v1/lights", "/parking", "/api/v1/parking/sessions.csv")
MAY_READ = {
    "public": ("/", "/api/v1/parking/zones", "/api/v1/parking/spots", "/login",
               "/api/v1/openapi.json"),
    "merchant": ("/lockers", "/api/v1/lockers"),
    "technician": STAFF_PAGES + ("/lockers", "/api/v1/lockers"),
    "operator": STAFF_PAGES + ("/lockers", "/api/v1/lockers", "/audit", "/accounts",
                               "/api/v1/accounts"),
}


class Site:
    def __init__(self, tmp_path: Path) -> None:
        engine = open_engine(str(tmp_path / "c.sqlite"))
        self.store, self.accounts = Store(engine), Accounts(engine)
        for topic, payload in (
                ("bourg/town/locker-01/info", {"role": "locker"}),
                ("bourg/town/locker-02/info", {"role": "locker"}),
                ("bourg/town/pole-01/info", {"role": "lighting"}),
                ("bourg/town/totem-1/zone/A", {"free": 1, "total": 2, "silent": 0}),
                ("bourg/town/pole-01/events/alarm",
                 {"seq": 1, "kind": "alarm", "t": 5, "data": {"alarm": "door_open",
                                                              "active": True}})):
            self.store.apply(parse(topic, json.dumps(payload).encode()), 10.0)
        for name, role, bank in (("mia", "merchant", "locker-01"),
                                 ("tom", "technician", None), ("olga", "operator", None)):
            self.accounts.add_user(name, role, PW, 0.0, bank=bank)
        reg = tmp_path / "registry.sqlite"
        with Registry(reg) as r:
            r.add("locker-01", "locker", "town", compartments=[1, 2])
            r.add("locker-02", "locker", "town", compartments=[1])
        sms = tmp_path / "sms.json"
        sms.write_text(json.dumps({"provider": "outbox", "dir": str(tmp_path / "sms")}))
        self.app = create_app(self.store, self.accounts, now=lambda: 1_780_000_000.0,
                              desk=CodeDesk(reg, sms))
        self.clients: dict[str, TestClient] = {}
        self.csrf: dict[str, str] = {}
        for role, name in (("public", None), ("merchant", "mia"), ("technician", "tom"),
                           ("operator", "olga")):
            c = TestClient(self.app, follow_redirects=False)
            if name:
                token = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text)[1]
                c.post("/login", data={"name": name, "password": PW, "csrf": token})
                self.csrf[role] = re.search(r'name="csrf" value="([^"]+)"', c.get("/").text)[1]
            self.clients[role] = c

    def routes(self) -> list[tuple[str, str]]:
        out = []
        for r in self.app.routes:
            if isinstance(r, APIRoute) and "stream" not in r.path and "changes" not in r.path:
                out += [(m, r.path) for m in sorted(r.methods)]
        return out


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    return Site(tmp_path_factory.mktemp("fuzz"))


def test_each_role_reads_what_it_may_and_nothing_else(site: Site) -> None:
    gets = sorted({p for m, p in site.routes() if m == "GET" and "{" not in p})
    assert set(STAFF_PAGES) <= set(gets)
    for role in ROLES:
        allowed = set(MAY_READ["public"]) | set(MAY_READ[role])
        for path in gets:
            code = site.clients[role].get(path).status_code
            if path in allowed:
                assert code == 200, (role, path, code)
            else:
                assert code in (303, 401, 403), (role, path, code)
    # a merchant's banks are its own
    [bank] = site.clients["merchant"].get("/api/v1/lockers").json()
    assert bank["bank"] == "locker-01"


_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30)
_value = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                   st.floats(allow_nan=False, allow_infinity=False), _text)
_param = st.one_of(st.integers(-5, 2**40).map(str), _text.filter(lambda s: "/" not in s
                                                                  and s not in (".", "..")))


@pytest.mark.slow
@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_no_request_gets_a_server_error(site: Site, data: st.DataObject) -> None:
    role = data.draw(st.sampled_from(ROLES))
    method, path = data.draw(st.sampled_from(site.routes()))
    for name in re.findall(r"{(\w+)}", path):
        path = path.replace("{" + name + "}", quote(data.draw(_param), safe=""), 1)
    query = data.draw(st.dictionaries(st.sampled_from(["site", "standing", "days", "next"]),
                                      _text, max_size=2))
    headers: dict[str, str] = {}
    if role in site.csrf and data.draw(st.booleans()):
        headers["X-CSRF-Token"] = site.csrf[role]
    kw: dict[str, Any] = {"params": query, "headers": headers}
    if method == "POST":
        fields = st.sampled_from(["compartment", "kind", "phone", "lang", "hours", "level",
                                  "minutes", "pole", "csrf", "name", "password", "role", "bank",
                                  "p0_start",
                                  "p0_base", "utc_offset_min", "dst"])
        if data.draw(st.booleans()):
            kw["json"] = data.draw(st.dictionaries(fields, _value, max_size=6))
        else:
            form = data.draw(st.dictionaries(fields, _text, max_size=6))
            if role in site.csrf and data.draw(st.booleans()):
                form["csrf"] = site.csrf[role]
            kw["data"] = form
    r = site.clients[role].request(method, path, **kw)
    assert r.status_code < 500, (role, method, path, kw, r.status_code, r.text[:300])
    if role in ("public", "merchant") and path.startswith(("/lights", "/alarms", "/fleet")):
        assert r.status_code != 200, (role, method, path)
