"""Who sees what over HTTP: the public sees availability only, staff pages need a session of
the right role, and every write needs the session's CSRF token."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bourg_console.accounts import Accounts
from bourg_console.db import open_engine
from bourg_console.store import Store
from bourg_console.web import create_app

PW = "correct horse battery"


@pytest.fixture
def site(tmp_path: Path) -> tuple[TestClient, Accounts]:
    engine = open_engine(str(tmp_path / "c.sqlite"))
    accounts = Accounts(engine)
    for name, role, bank in (("olga", "operator", None), ("tom", "technician", None),
                             ("mia", "merchant", "locker-01")):
        accounts.add_user(name, role, PW, 0.0, bank=bank)
    return TestClient(create_app(Store(engine), accounts), follow_redirects=False), accounts


def _login(client: TestClient, name: str, password: str = PW):  # noqa: ANN202
    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    return client.post("/login", data={"name": name, "password": password, "csrf": csrf,
                                       "next": "/fleet"})


def _csrf(client: TestClient) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', client.get("/").text).group(1)


def test_the_public_sees_availability_and_nothing_else(site) -> None:  # noqa: ANN001
    client, _ = site
    assert client.get("/").status_code == 200
    assert client.get("/api/v1/parking/zones").json() == []
    assert client.get("/api/v1/parking/spots").status_code == 200
    r = client.get("/fleet")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Ffleet"
    assert client.get("/api/v1/fleet").status_code == 401


def test_staff_log_in_and_see_what_their_role_allows(site) -> None:  # noqa: ANN001
    client, _ = site
    r = _login(client, "tom")
    assert r.status_code == 303 and r.headers["location"] == "/fleet"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert client.get("/fleet").status_code == 200
    assert client.get("/api/v1/fleet").json() == []
    client.cookies.clear()
    _login(client, "mia")
    assert client.get("/fleet").status_code == 403
    assert client.get("/api/v1/fleet").status_code == 403


def test_a_wrong_password_gets_the_form_again_and_no_session(site) -> None:  # noqa: ANN001
    client, accounts = site
    r = _login(client, "tom", "not the password")
    assert r.status_code == 401 and "wrong name or password" in r.text
    assert "bourg_session" not in client.cookies
    assert client.get("/api/v1/fleet").status_code == 401


def test_a_login_without_its_form_token_is_refused(site) -> None:  # noqa: ANN001
    client, accounts = site
    r = client.post("/login", data={"name": "tom", "password": PW, "csrf": "forged"})
    assert r.status_code == 403
    assert [e["action"] for e in accounts.audit_log()] == ["user_added"] * 3


def test_logout_needs_the_csrf_token_and_ends_the_session(site) -> None:  # noqa: ANN001
    client, accounts = site
    _login(client, "olga")
    assert client.post("/logout", data={"csrf": "forged"}).status_code == 403
    assert client.post("/logout").status_code == 403
    assert client.get("/fleet").status_code == 200  # still logged in
    assert client.post("/logout", data={"csrf": _csrf(client)}).status_code == 303
    client.cookies.clear()  # the browser forgets it; the server has already ended it
    assert client.get("/fleet").status_code == 303
    assert [e["action"] for e in accounts.audit_log()][:2] == ["logout", "login"]


def test_a_stolen_cookie_after_logout_opens_nothing(site) -> None:  # noqa: ANN001
    client, _ = site
    _login(client, "olga")
    token = client.cookies["bourg_session"]
    client.post("/logout", data={"csrf": _csrf(client)})
    client.cookies.set("bourg_session", token)
    assert client.get("/api/v1/fleet").status_code == 401


def test_the_login_never_redirects_off_the_console(site) -> None:  # noqa: ANN001
    client, _ = site
    page = client.get("/login", params={"next": "//evil.example/x"})
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    r = client.post("/login", data={"name": "tom", "password": PW, "csrf": csrf,
                                    "next": "https://evil.example/"})
    assert r.headers["location"] == "/"
    assert 'name="next" value="/"' in page.text
