"""Accounts against a patient attacker: hashed passwords, a lock after repeated failures,
sessions the database cannot replay, and an audit of every change."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bourg_console import accounts as acc
from bourg_console.accounts import AccountError, Accounts, LoginRefused
from bourg_console.db import open_engine

PW = "correct horse battery"


@pytest.fixture
def accounts(db_url: str) -> Accounts:
    return Accounts(open_engine(db_url))


@pytest.mark.parametrize("name, role, password, bank, says", [
    ("Ann", "operator", PW, None, "must be 1..64 of a-z"),
    ("ann", "mayor", PW, None, "is not one of operator, technician, merchant"),
    ("shop", "merchant", PW, None, "a merchant needs --bank"),
    ("ann", "technician", PW, "locker-01", "only a merchant has one"),
    ("ann", "operator", "short", None, "at least 12 characters"),
])
def test_an_account_that_cannot_be_made_says_why(tmp_path: Path, name: str, role: str,
                                                 password: str, bank: str | None,
                                                 says: str) -> None:
    a = Accounts(open_engine(str(tmp_path / "c.sqlite")))
    with pytest.raises(AccountError, match=says):
        a.add_user(name, role, password, 0.0, bank=bank)
    assert a.users() == []


def test_the_password_is_kept_only_as_an_argon2id_hash(tmp_path: Path) -> None:
    db = tmp_path / "c.sqlite"
    a = Accounts(open_engine(str(db)))
    a.add_user("ann", "operator", PW, 0.0)
    with pytest.raises(AccountError, match="already an account"):
        a.add_user("ann", "technician", PW + "x", 1.0)
    [(hashed,)] = sqlite3.connect(db).execute("select password_hash from users").fetchall()
    assert hashed.startswith("$argon2id$")
    a.engine.dispose()
    for f in tmp_path.iterdir():
        assert PW.encode() not in f.read_bytes()


@pytest.mark.real_hashes
def test_passwords_are_hashed_with_the_recommended_argon2id_cost(tmp_path: Path) -> None:
    """RFC 9106's second recommended profile: argon2id, 3 passes, 64 MiB."""
    a = Accounts(open_engine(str(tmp_path / "c.sqlite")))
    a.add_user("ann", "operator", PW, 0.0)
    [(hashed,)] = sqlite3.connect(tmp_path / "c.sqlite").execute(
        "select password_hash from users").fetchall()
    assert hashed.startswith("$argon2id$v=19$m=65536,t=3,p=4$"), hashed
    assert a.login("ann", PW, 1.0).user.name == "ann"


def test_a_wrong_password_and_an_unknown_name_get_the_same_answer(accounts: Accounts) -> None:
    accounts.add_user("ann", "operator", PW, 0.0)
    answers = []
    for name, pw in (("ann", "wrong password!"), ("bob", PW)):
        with pytest.raises(LoginRefused) as e:
            accounts.login(name, pw, 1.0)
        answers.append(str(e.value))
    assert answers[0] == answers[1] == "wrong name or password"


def test_repeated_failures_lock_the_account_even_against_the_right_password(
        accounts: Accounts) -> None:
    accounts.add_user("ann", "operator", PW, 0.0)
    for i in range(acc.MAX_FAILURES):
        with pytest.raises(LoginRefused):
            accounts.login("ann", f"guess number {i}", 10.0 + i)
    with pytest.raises(LoginRefused):
        accounts.login("ann", PW, 20.0)  # locked: the right password does not open it
    with pytest.raises(LoginRefused):
        accounts.login("ann", PW, 10.0 + acc.MAX_FAILURES + acc.LOCK_S - 10)
    assert accounts.login("ann", PW, 20.0 + acc.LOCK_S).user.name == "ann"
    actions = [e["action"] for e in accounts.audit_log()]
    assert actions.count("login_refused") == acc.MAX_FAILURES + 2
    assert actions[0] == "login"


def test_fewer_failures_than_the_limit_then_a_login_start_the_count_again(
        accounts: Accounts) -> None:
    accounts.add_user("ann", "operator", PW, 0.0)
    for _ in range(2):
        for i in range(acc.MAX_FAILURES - 1):
            with pytest.raises(LoginRefused):
                accounts.login("ann", f"guess {i} wrong", 1.0)
        accounts.login("ann", PW, 2.0)


def test_a_session_is_its_token_and_the_database_keeps_only_a_hash(tmp_path: Path) -> None:
    db = tmp_path / "c.sqlite"
    a = Accounts(open_engine(str(db)))
    a.add_user("ann", "technician", PW, 0.0)
    s = a.login("ann", PW, 100.0)
    assert a.session(s.token, 101.0).user.role == "technician"
    stored = sqlite3.connect(db).execute("select token_hash from sessions").fetchall()
    assert stored and all(s.token not in row[0] for row in stored)
    assert a.session(stored[0][0], 101.0) is None  # the stored hash opens nothing
    assert a.session(s.token, 100.0 + acc.SESSION_S) is None  # expired
    assert a.session("", 101.0) is None and a.session(None, 101.0) is None


def test_a_new_password_ends_every_session(accounts: Accounts) -> None:
    accounts.add_user("ann", "operator", PW, 0.0)
    s = accounts.login("ann", PW, 1.0)
    accounts.set_password("ann", PW + " new", 2.0, actor="ann")
    assert accounts.session(s.token, 3.0) is None
    with pytest.raises(LoginRefused):
        accounts.login("ann", PW, 4.0)
    accounts.login("ann", PW + " new", 5.0)


def test_guesses_sent_in_parallel_each_count(tmp_path: Path) -> None:
    """Thirty wrong passwords at the same instant: the account ends locked, and the right
    password does not open it."""
    import threading

    a = Accounts(open_engine(str(tmp_path / "c.sqlite")))
    a.add_user("ann", "operator", PW, 0.0)
    gate = threading.Barrier(30)

    def guess(i: int) -> None:
        gate.wait()
        try:
            a.login("ann", f"wrong guess {i}", 100.0)
        except LoginRefused:
            pass

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with pytest.raises(LoginRefused):
        a.login("ann", PW, 101.0)


def test_accounts_are_removed_but_never_the_last_operator(accounts: Accounts) -> None:
    """On both databases (the operators' rows are locked while they are counted)."""
    accounts.add_user("olga", "operator", PW, 0.0)
    accounts.add_user("ann", "operator", PW, 0.0)
    accounts.add_user("tom", "technician", PW, 0.0)
    session = accounts.login("tom", PW, 1.0)
    accounts.remove_user("tom", 2.0, actor="olga")
    assert accounts.session(session.token, 3.0) is None
    accounts.remove_user("ann", 4.0, actor="olga")
    with pytest.raises(acc.Conflict, match="last operator"):
        accounts.remove_user("olga", 5.0, actor="cli")
    with pytest.raises(acc.NoSuchAccount):
        accounts.remove_user("ann", 6.0, actor="olga")
    assert [u.name for u in accounts.users()] == ["olga"]
