"""Who may use the console, and how they prove it.

Roles (issue 22): an **operator** may do everything; a **technician** sees the fleet and sends
commands; a **merchant** sees and issues codes for its own locker bank only; the **public**
(no account) sees parking availability. There is no default account: the first operator is
made with `bourg console add-user`.

Against a patient attacker:
- passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106's second profile) and
  must be at least MIN_PASSWORD characters;
- after MAX_FAILURES failed logins in a row an account is locked for LOCK_S, whatever the
  password tried next, so guessing costs days, not minutes;
- an unknown name costs the same argon2 verification as a known one, and both answer the same
  words (a known name's failure also writes its count: a few milliseconds more, which the
  lock, not the timing, makes worthless to a guesser);
- a session is a random 256-bit token in an HttpOnly, SameSite=Strict cookie; the database
  keeps only its SHA-256, so a copy of the database opens no session. It ends after
  SESSION_S, at logout, or when the account's password changes;
- every state-changing request carries the session's CSRF token (web_auth.py).
Every write, the account changes here included, is in the audit table."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, delete, insert, select, update

from bourg_console import schema as s

ROLES = ("operator", "technician", "merchant")
NAME = re.compile(r"[a-z0-9][a-z0-9_.@-]{0,63}\Z")
BANK = re.compile(r"[A-Za-z0-9_.\-]{1,32}\Z")  # a locker bank's device id
MIN_PASSWORD = 12
MAX_FAILURES, LOCK_S = 5, 15 * 60
SESSION_S = 12 * 3600
# argon2-cffi's defaults (RFC 9106's second recommended profile): 3 passes over 64 MiB,
# about 140 ms a hash on this project's 2-core test host
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("no such account; this hash only costs time")


class AccountError(ValueError):
    """A request about accounts that cannot be granted; the message says why."""


class LoginRefused(AccountError):
    """Wrong name or password, or a locked account: the same words for all three."""


class NoSuchAccount(AccountError):
    """The account named is not there."""


class Conflict(AccountError):
    """The change would break a rule: a name taken, one's own account, the last operator."""


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: str
    bank: str | None

    def may(self, *roles: str) -> bool:
        """True for an operator, or one of `roles`."""
        return self.role == "operator" or self.role in roles


@dataclass(frozen=True)
class Session:
    token: str  # for the cookie; never stored
    csrf: str
    user: User


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Accounts:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- accounts --------------------------------------------------------------------------
    def add_user(self, name: str, role: str, password: str, now: float, *,
                 bank: str | None = None, actor: str = "cli") -> User:
        if not NAME.match(name):
            raise AccountError(f"name {name[:70]!r} must be 1..64 of a-z 0-9 _ . @ -, "
                               "starting with a letter or digit")
        if role not in ROLES:
            raise AccountError(f"role {role!r} is not one of {', '.join(ROLES)}")
        if (role == "merchant") != (bank is not None):
            raise AccountError("a merchant needs --bank (its locker bank), and only a "
                               "merchant has one")
        if bank is not None and not BANK.match(bank):
            raise AccountError(f"bank {bank[:40]!r} is not a device id (1..32 of A-Z a-z "
                               "0-9 _ . -)")
        if len(password) < MIN_PASSWORD:
            raise AccountError(f"the password must be at least {MIN_PASSWORD} characters")
        with self.engine.begin() as c:
            if c.execute(select(s.users.c.id).where(s.users.c.name == name)).first():
                raise Conflict(f"there is already an account named {name!r}")
            uid = c.execute(insert(s.users).values(
                name=name, role=role, bank=bank, password_hash=_hasher.hash(password),
                created_at=now, failures=0)).inserted_primary_key[0]
            self._audit(c, now, actor, "user_added", name, {"role": role, "bank": bank})
        return User(uid, name, role, bank)

    def set_password(self, name: str, password: str, now: float, *, actor: str) -> None:
        """A new password ends every session of the account and lifts a lock."""
        if len(password) < MIN_PASSWORD:
            raise AccountError(f"the password must be at least {MIN_PASSWORD} characters")
        with self.engine.begin() as c:
            uid = c.execute(select(s.users.c.id).where(s.users.c.name == name)).scalar()
            if uid is None:
                raise NoSuchAccount(f"no account named {name!r}")
            c.execute(update(s.users).where(s.users.c.id == uid).values(
                password_hash=_hasher.hash(password), failures=0, locked_until=None))
            c.execute(delete(s.sessions).where(s.sessions.c.user_id == uid))
            self._audit(c, now, actor, "password_set", name, {})

    def users(self) -> list[User]:
        with self.engine.connect() as c:
            return [User(r.id, r.name, r.role, r.bank) for r in
                    c.execute(select(s.users).order_by(s.users.c.name))]

    def accounts(self, now: float) -> list[dict[str, Any]]:
        """Every account as the accounts page lists it: no hash, whether it is locked."""
        with self.engine.connect() as c:
            return [{"name": r.name, "role": r.role, "bank": r.bank,
                     "created_at": r.created_at,
                     "locked_until": r.locked_until if r.locked_until and
                     r.locked_until > now else None}
                    for r in c.execute(select(s.users).order_by(s.users.c.name))]

    def remove_user(self, name: str, now: float, *, actor: str) -> None:
        """Remove an account and end its sessions. An operator cannot remove itself, and the
        last operator stays: the console would have nobody to run it but the CLI."""
        if name == actor:
            raise Conflict("an operator cannot remove its own account")
        with self.engine.begin() as c:
            row = c.execute(select(s.users.c.id, s.users.c.role)
                            .where(s.users.c.name == name)).first()
            if row is None:
                raise NoSuchAccount(f"no account named {name!r}")
            # the operators' rows locked (PostgreSQL): two operators removing each other at
            # once would each count two and leave none
            operators = c.execute(select(s.users.c.id).where(s.users.c.role == "operator")
                                  .with_for_update()).all()
            if row.role == "operator" and len(operators) <= 1:
                raise Conflict("the last operator cannot be removed")
            c.execute(delete(s.sessions).where(s.sessions.c.user_id == row.id))
            c.execute(delete(s.users).where(s.users.c.id == row.id))
            self._audit(c, now, actor, "user_removed", name, {"role": row.role})

    def confirm(self, name: str, password: str, now: float) -> None:
        """The account's password typed again before a change to accounts (a stolen session
        alone adds no operator): LoginRefused if wrong, counted toward the lock as a failed
        login is, so the session cannot be used to guess it."""
        with self.engine.begin() as c:
            row = c.execute(select(s.users).where(s.users.c.name == name)).first()
            ok = self._checked(c, row, name, password, now, "confirm_refused")
        if not ok:
            raise LoginRefused("wrong password")

    def _checked(self, c: Any, row: Any, name: str, password: str, now: float,
                 refused: str) -> bool:
        """Whether `password` is the account's and the account is not locked; a failure is
        counted (and may lock it) and audited as `refused`, within `c`."""
        ok = _verify(row.password_hash if row else _DUMMY_HASH, password)
        if row is not None and row.locked_until is not None and now < row.locked_until:
            self._audit(c, now, name, refused, name, {"locked": True})
            return False
        if row is not None and not ok:
            # counted in the database, not from the row read above: guesses sent in
            # parallel must each count
            u = s.users
            c.execute(update(u).where(u.c.id == row.id).values(failures=u.c.failures + 1))
            locked = now + LOCK_S
            hit = c.execute(update(u).where(u.c.id == row.id, u.c.failures >= MAX_FAILURES)
                            .values(failures=0, locked_until=locked)).rowcount
            self._audit(c, now, name, refused, name, {"locked_until": locked} if hit else {})
        return row is not None and ok

    # -- sessions --------------------------------------------------------------------------
    def login(self, name: str, password: str, now: float) -> Session:
        with self.engine.begin() as c:  # a refusal is counted and committed, then raised
            row = c.execute(select(s.users).where(s.users.c.name == name)).first()
            ok = self._checked(c, row, name, password, now, "login_refused")
            if row is not None and ok:
                token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
                c.execute(update(s.users).where(s.users.c.id == row.id).values(
                    failures=0, locked_until=None))
                c.execute(insert(s.sessions).values(
                    token_hash=_token_hash(token), user_id=row.id, csrf=csrf, created_at=now,
                    expires_at=now + SESSION_S))
                c.execute(delete(s.sessions).where(s.sessions.c.expires_at < now))
                self._audit(c, now, name, "login", name, {})
        if row is None or not ok:
            raise LoginRefused("wrong name or password")
        return Session(token, csrf, User(row.id, row.name, row.role, row.bank))

    def session(self, token: str | None, now: float) -> Session | None:
        """The live session of a cookie's token, or None."""
        if not token:
            return None
        with self.engine.connect() as c:
            r = c.execute(select(s.sessions.c.csrf, s.sessions.c.expires_at, s.users)
                          .join(s.users, s.users.c.id == s.sessions.c.user_id)
                          .where(s.sessions.c.token_hash == _token_hash(token))).first()
        if r is None or r.expires_at <= now:
            return None
        return Session(token, r.csrf, User(r.id, r.name, r.role, r.bank))

    def logout(self, session: Session, now: float) -> None:
        with self.engine.begin() as c:
            c.execute(delete(s.sessions).where(
                s.sessions.c.token_hash == _token_hash(session.token)))
            self._audit(c, now, session.user.name, "logout", session.user.name, {})

    # -- audit -----------------------------------------------------------------------------
    def audit(self, now: float, actor: str, action: str, target: str,
              detail: dict[str, Any]) -> None:
        with self.engine.begin() as c:
            self._audit(c, now, actor, action, target, detail)

    @staticmethod
    def _audit(c: Any, now: float, actor: str, action: str, target: str,
               detail: dict[str, Any]) -> None:
        c.execute(insert(s.audit).values(at=now, actor=actor[:64], action=action[:64],
                                         target=target[:200], detail=json.dumps(detail)))

    def audit_log(self, limit: int = 100) -> list[dict[str, Any]]:
        with self.engine.connect() as c:
            return [dict(r._mapping, detail=json.loads(r.detail)) for r in c.execute(
                select(s.audit).order_by(s.audit.c.id.desc()).limit(limit))]


def new_password() -> str:
    """A password the console makes for an account (shown once to the operator, who passes
    it on): 20 characters of URL-safe base64, about 120 random bits."""
    return secrets.token_urlsafe(15)


def _verify(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False
