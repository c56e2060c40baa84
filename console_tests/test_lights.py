"""Street lights on the console: the profile form checked by the pole's own checker, errors
placed on their fields, overrides checked as the pole checks them, energy per night, charts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bourg_console import lights
from bourg_console.charts import bars
from bourg_console.db import open_engine
from bourg_console.store import Store, night_of
from bourg_console.topics import parse


def _form(**fields: str) -> dict[str, str]:
    base = {"utc_offset_min": "60", "dst": "eu", "p0_name": "evening", "p0_start": "sunset",
            "p0_end": "23:00", "p0_base": "30", "p0_presence": "100"}
    base.update(fields)
    return base


def test_a_form_is_read_as_the_profile_it_describes() -> None:
    prof = lights.profile_from_form(_form(p1_start="23:00", p1_end="sunrise", p1_base="10",
                                          p1_presence="80"))
    assert prof == {"utc_offset_min": 60, "dst": "eu", "periods": [
        {"name": "evening", "start": "sunset", "end": "23:00", "base": 30, "presence": 100},
        {"start": "23:00", "end": "sunrise", "base": 10, "presence": 80}]}
    assert lights.check_profile(prof) is None


@pytest.mark.parametrize("fields, field, says", [
    ({"p0_start": "25:00"}, "p0_start", "expected 'HH:MM'"),
    ({"p0_base": "150"}, "p0_base", ""),
    ({"p0_presence": "lots"}, "p0_presence", ""),
    ({"p0_end": ""}, "p0_end", "missing"),
    ({"utc_offset_min": "2000"}, "utc_offset_min", ""),
])
def test_what_the_pole_would_refuse_is_refused_on_its_field(fields: dict[str, str], field: str,
                                                            says: str) -> None:
    bad = lights.check_profile(lights.profile_from_form(_form(**fields)))
    assert bad is not None and bad[0] == field and says in bad[1], bad


def test_a_poles_error_reply_lands_on_its_field() -> None:
    assert lights.error_field("settings.json: app.profile: periods[1].end: expected 'HH:MM'"
                              ) == ("p1_end", "expected 'HH:MM'")
    assert lights.error_field("out of memory while applying") == \
        ("", "out of memory while applying")


def test_overrides_are_checked_as_the_pole_checks_them() -> None:
    assert lights.check_override("40", "30") == ({"level": 40, "duration_s": 1800}, "")
    assert lights.check_override("", "") == ({"level": None}, "")  # clear: back to profile
    assert lights.check_override("140", "30")[0] is None
    assert "duration" in lights.check_override("40", "100000")[1]


def test_energy_per_night_is_the_counters_move_within_the_night(tmp_path: Path) -> None:
    s = Store(open_engine(str(tmp_path / "c.sqlite")))
    evening = 1_780_000_000 - 1_780_000_000 % 86400 + 18 * 3600  # 18:00 UTC
    for t, wh, burn in ((evening, 100.0, 10.0), (evening + 6 * 3600, 130.5, 16.0),
                        (evening + 13 * 3600, 140.0, 17.5),  # 07:00 next day: same night
                        (evening + 24 * 3600, 141.0, 17.5), (evening + 30 * 3600, 160.0, 23.0)):
        s.apply(parse("bourg/town/pole-01/energy",
                      json.dumps({"wh": wh, "burn_h": burn}).encode()), t)
    assert night_of(evening + 13 * 3600) == night_of(evening)
    assert [(n["wh"], n["burn_h"]) for n in s.pole_nights("town", "pole-01")] == \
        [(40.0, 7.5), (19.0, 5.5)]


def test_a_chart_is_inline_svg_with_its_labels_escaped() -> None:
    svg = bars(["<a>", "b"], [1.0, 3.0], unit="Wh", title="energy & more")
    assert svg.startswith("<svg") and svg.count("<rect") == 2
    assert "&lt;a&gt;" in svg and "energy &amp; more" in svg
    assert "no data yet" in bars([], [], title="x")


def test_not_a_number_is_no_level() -> None:
    for level, minutes in (("nan", "30"), ("inf", "30"), ("40", "nan")):
        assert lights.check_override(level, minutes)[0] is None, (level, minutes)
    bad = lights.check_profile(lights.profile_from_form(_form(p0_base="nan")))
    assert bad is not None and bad[0] == "p0_base"


def test_a_group_of_poles_is_named_used_and_audited(tmp_path: Path) -> None:
    """Named from the ticked poles; a command to the group reaches its poles (a fake
    commander records them), but one that said it went offline; no pole ticked deletes it; a
    bad name is refused."""
    import re

    from fastapi.testclient import TestClient

    from bourg_console.accounts import Accounts
    from bourg_console.web import create_app

    engine = open_engine(str(tmp_path / "c.sqlite"))
    store, accounts = Store(engine), Accounts(engine)
    for i in (1, 2, 3):
        store.apply(parse(f"bourg/town/pole-0{i}/info",
                          json.dumps({"role": "lighting"}).encode()), 1.0)
    accounts.add_user("tom", "technician", "correct horse battery", 0.0)

    class Commander:
        def __init__(self) -> None:
            self.calls: list[tuple[str, str, dict]] = []

        def call(self, actor: str, device: str, name: str, payload: dict) -> dict:
            self.calls.append((device, name, payload))
            return {"ok": True}

    cmd = Commander()
    client = TestClient(create_app(store, accounts, commander=cmd),  # type: ignore[arg-type]
                        follow_redirects=False)
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)[1]
    client.post("/login", data={"name": "tom", "password": "correct horse battery",
                                "csrf": token})
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/lights").text)[1]
    r = client.post("/lights/groups", data={"csrf": csrf, "name": "market street",
                                            "pole": ["pole-01"]})
    assert 'id="group-error"' in r.text and store.groups() == {}
    client.post("/lights/groups", data={"csrf": csrf, "name": "market",
                                        "pole": ["pole-01", "pole-03"]})
    assert store.groups() == {"market": ["pole-01", "pole-03"]}
    r = client.post("/lights/override", data={"csrf": csrf, "group": "market",
                                              "level": "50", "minutes": "10"})
    assert "pole-03: ok" in r.text
    assert [(d, n) for d, n, _ in cmd.calls] == [("pole-01", "override"),
                                                 ("pole-03", "override")]
    assert client.post("/lights/override", data={"csrf": csrf, "group": "nope",
                                                 "level": "50"}).status_code == 422
    # a pole whose last word was `offline` would drop the command: it is not sent
    store.apply(parse("bourg/town/pole-03/status", b"offline"), 2.0)
    r = client.post("/lights/override", data={"csrf": csrf, "group": "market",
                                              "level": "50", "minutes": "10"})
    assert "pole-01: ok" in r.text and "pole-03: offline: not sent" in r.text, r.text
    assert [d for d, _, _ in cmd.calls[2:]] == ["pole-01"]
    client.post("/lights/groups", data={"csrf": csrf, "name": "market"})
    assert store.groups() == {}
    actions = [e["action"] for e in accounts.audit_log()]
    # the fake commander audits none; the command kept from the offline pole is audited
    assert actions[:3] == ["group_deleted", "command_not_sent", "group_saved"], actions


def test_a_town_s_pages_cost_the_same_queries_for_30_poles_as_for_60(tmp_path) -> None:  # noqa: ANN001
    """/lights, /api/v1/lights and /fleet read each kind of thing once for every pole; a
    query per pole would make a town's 3,000 poles a page of 6,000 queries. Each pole's
    charts are on its own page past a street's size (web_lights.INLINE_CHARTS)."""
    import json
    import re

    from fastapi.testclient import TestClient
    from sqlalchemy import event

    from bourg_console import web_lights
    from bourg_console.accounts import Accounts
    from bourg_console.db import open_engine
    from bourg_console.store import Store
    from bourg_console.topics import parse
    from bourg_console.web import create_app

    def queries(n: int) -> dict[str, int]:
        engine = open_engine(str(tmp_path / f"c{n}.sqlite"))
        store, accounts = Store(engine), Accounts(engine)
        for i in range(n):
            for suffix, data in (("info", {"role": "lighting"}), ("state", {"level": 10}),
                                 ("energy", {"wh": 5.0, "burn_h": 1.0})):
                store.apply(parse(f"bourg/town/pole-{i:03d}/{suffix}",
                                  json.dumps(data).encode()), 10.0)
        accounts.add_user("tom", "technician", "correct horse battery", 0.0)
        client = TestClient(create_app(store, accounts), follow_redirects=False)
        token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)[1]
        client.post("/login", data={"name": "tom", "password": "correct horse battery",
                                    "csrf": token})
        count = [0]
        event.listen(engine, "before_cursor_execute", lambda *a: count.__setitem__(
            0, count[0] + 1))
        out = {}
        for path in ("/lights", "/api/v1/lights", "/fleet"):
            count[0] = 0
            assert client.get(path).status_code == 200
            out[path] = count[0]
        return out

    assert 30 > web_lights.INLINE_CHARTS
    assert queries(30) == queries(60)


def test_each_pole_has_a_page_with_its_charts(tmp_path) -> None:  # noqa: ANN001
    import json
    import re

    from fastapi.testclient import TestClient

    from bourg_console.accounts import Accounts
    from bourg_console.db import open_engine
    from bourg_console.store import Store
    from bourg_console.topics import parse
    from bourg_console.web import create_app

    engine = open_engine(str(tmp_path / "c.sqlite"))
    store, accounts = Store(engine), Accounts(engine)
    store.apply(parse("bourg/town/pole-01/info", json.dumps({"role": "lighting"}).encode()),
                10.0)
    accounts.add_user("tom", "technician", "correct horse battery", 0.0)
    client = TestClient(create_app(store, accounts), follow_redirects=False)
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)[1]
    client.post("/login", data={"name": "tom", "password": "correct horse battery",
                                "csrf": token})
    page = client.get("/lights/pole/pole-01")
    assert page.status_code == 200 and "energy per night" in page.text
    # its door alarm stands under 600 newer ones of other boards (a town-wide outage): it is
    # still on its row, on its page and on the lights page
    store.apply(parse("bourg/town/pole-01/events/alarm", json.dumps(
        {"seq": 1, "kind": "alarm", "t": None,
         "data": {"alarm": "door_open", "active": True}}).encode()), 11.0)
    from bourg_console import schema
    with engine.begin() as c:
        c.execute(schema.alarms.insert(), [
            {"site": "town", "device": f"pole-{i:04d}", "kind": "offline", "detail": "{}",
             "raised_at": 12.0} for i in range(600)])
    assert lights.one_pole_row(store, "pole-01")["alarms"] == ["door_open"]
    assert [r["alarms"] for r in lights.pole_rows(store)] == [["door_open"]]
    assert 'href="/lights/pole/pole-01"' in client.get("/lights").text
    assert client.get("/lights/pole/pole-99").status_code == 404
