"""The operators' accounts page: an account added from the browser gets a password the
console makes and shows once; a new password ends the account's sessions and lifts its
lock; an operator cannot remove itself or the last operator; every change needs the
operator's own password again, counted like a login; only operators see any of it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bourg_console.accounts import MAX_FAILURES, Accounts, LoginRefused
from bourg_console.db import open_engine
from bourg_console.store import Store
from bourg_console.web import create_app

PW = "correct horse battery"


@pytest.fixture
def console(tmp_path: Path) -> tuple[Accounts, TestClient, TestClient]:
    engine = open_engine(str(tmp_path / "c.sqlite"))
    accounts = Accounts(engine)
    accounts.add_user("olga", "operator", PW, 0.0)
    accounts.add_user("tom", "technician", PW, 0.0)
    app = create_app(Store(engine), accounts, now=lambda: 1_000_000.0)
    return accounts, _logged_in(app, "olga"), _logged_in(app, "tom")


def _logged_in(app, name: str, password: str = PW) -> TestClient:  # noqa: ANN001
    c = TestClient(app, follow_redirects=False)
    token = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text)[1]
    c.post("/login", data={"name": name, "password": password, "csrf": token})
    return c


def _csrf(c: TestClient) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', c.get("/").text)[1]


def _writes(c: TestClient, password: str = PW) -> dict[str, str]:
    return {"X-CSRF-Token": _csrf(c), "X-Confirm-Password": password}


def test_an_account_added_in_the_browser_logs_in_with_the_password_shown_once(
        console, tmp_path: Path) -> None:  # noqa: ANN001
    accounts, olga, _ = console
    r = olga.post("/accounts", data={"name": "shop1", "role": "merchant",
                                     "bank": "locker-01", "csrf": _csrf(olga),
                                     "your_password": PW})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    password = re.search(r"its password is <code>([^<]+)</code>", r.text)[1]
    assert len(password) >= 20
    assert accounts.login("shop1", password, 1_000_001.0).user.bank == "locker-01"
    page = olga.get("/accounts").text
    assert "shop1" in page and password not in page
    assert password not in str(accounts.audit_log())
    files = list(tmp_path.glob("c.sqlite*"))  # the WAL holds the newest pages
    assert len(files) >= 2 and all(password.encode() not in f.read_bytes() for f in files)


def test_a_new_password_ends_the_sessions_and_lifts_the_lock(console) -> None:  # noqa: ANN001
    accounts, olga, tom = console
    for _ in range(MAX_FAILURES):
        with pytest.raises(LoginRefused):
            accounts.login("tom", "not his password", 1_000_000.0)
    assert accounts.accounts(1_000_000.0)[1]["locked_until"] is not None
    assert tom.get("/api/v1/fleet").status_code == 200  # the session made before the lock
    r = olga.post("/api/v1/accounts/tom/password", headers=_writes(olga))
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    assert tom.get("/api/v1/fleet").status_code == 401
    assert accounts.login("tom", r.json()["password"], 1_000_001.0).user.name == "tom"


def test_an_operator_removes_others_but_never_itself_or_the_last_operator(
        console) -> None:  # noqa: ANN001
    accounts, olga, tom = console
    csrf = _writes(olga)
    assert olga.delete("/api/v1/accounts/olga", headers=csrf).status_code == 409
    assert olga.delete("/api/v1/accounts/nobody", headers=csrf).status_code == 404
    assert olga.delete("/api/v1/accounts/tom", headers=csrf).json()["removed"]
    assert tom.get("/api/v1/fleet").status_code == 401
    assert [a["name"] for a in olga.get("/api/v1/accounts").json()] == ["olga"]
    accounts.add_user("ann", "operator", PW, 0.0)
    ann = _logged_in(olga.app, "ann")
    accounts.remove_user("olga", 2.0, actor="ann")
    r = ann.delete("/api/v1/accounts/ann", headers=_writes(ann))
    assert r.status_code == 409 and "own account" in r.json()["detail"]
    with pytest.raises(Exception, match="last operator"):
        accounts.remove_user("ann", 3.0, actor="cli")
    assert [e["action"] for e in accounts.audit_log()][:2] == ["user_removed", "login"]


def test_only_operators_manage_accounts_and_every_write_needs_the_token(console) -> None:  # noqa: ANN001
    accounts, olga, tom = console
    assert tom.get("/accounts").status_code == 403
    assert tom.get("/api/v1/accounts").status_code == 403
    r = tom.post("/api/v1/accounts", headers=_writes(tom),
                 json={"name": "evil", "role": "operator"})
    assert r.status_code == 403
    r = olga.post("/api/v1/accounts", headers={"X-Confirm-Password": PW},
                  json={"name": "evil", "role": "operator"})
    assert r.status_code == 403  # no CSRF token
    r = olga.post("/api/v1/accounts", headers=_writes(olga),
                  json={"name": "Bad Name", "role": "operator"})
    assert r.status_code == 422 and "must be 1..64" in r.json()["detail"]
    r = olga.post("/api/v1/accounts", headers=_writes(olga),
                  json={"name": "shop", "role": "merchant", "bank": "x" * 200})
    assert r.status_code == 422 and "is not a device id" in r.json()["detail"]
    r = olga.post("/api/v1/accounts", headers=_writes(olga),
                  json={"name": "tom", "role": "technician"})
    assert r.status_code == 409
    assert [u.name for u in accounts.users()] == ["olga", "tom"]


def test_a_stolen_session_alone_changes_no_account_and_cannot_guess_the_password(
        console) -> None:  # noqa: ANN001
    """Whoever holds an operator's cookie but not its password adds no operator, resets
    nobody, and each guess at the password counts toward the lock, as a login's does."""
    accounts, olga, _ = console
    for _ in range(MAX_FAILURES):
        r = olga.post("/api/v1/accounts", headers=_writes(olga, "a guess at it"),
                      json={"name": "mallory", "role": "operator"})
        assert r.status_code == 403
    r = olga.post("/accounts/tom/password", data={"csrf": _csrf(olga),
                                                  "your_password": PW})
    assert r.status_code == 403  # locked now, the right password included
    assert [u.name for u in accounts.users()] == ["olga", "tom"]
    assert accounts.accounts(1_000_000.0)[0]["locked_until"] is not None
    assert [e["action"] for e in accounts.audit_log()][:2] == ["confirm_refused"] * 2
