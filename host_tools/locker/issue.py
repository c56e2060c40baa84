"""Issuing locker codes on the host: the bank's key from the device registry, a sequence bit
that never collides with a live code, the issued codes kept (0600, with the keys) so a resend
is the same code and the same SMS, a resend cooldown, and no duplicate send on retry."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..registry import Registry, RegistryError
from .fw import load
from .sms import Delivery, Provider, SmsError, check_phone, render

_SCHEMA = """
CREATE TABLE IF NOT EXISTS locker_codes (
    bank TEXT NOT NULL, compartment INTEGER NOT NULL, kind TEXT NOT NULL,
    day INTEGER NOT NULL, sbit INTEGER NOT NULL, seq INTEGER NOT NULL, code TEXT NOT NULL,
    valid_from REAL NOT NULL, valid_until REAL NOT NULL, created REAL NOT NULL,
    PRIMARY KEY (bank, compartment, kind, day, sbit)
);
CREATE TABLE IF NOT EXISTS locker_sms (
    idem TEXT PRIMARY KEY, bank TEXT NOT NULL, phone TEXT NOT NULL, provider TEXT,
    status TEXT NOT NULL, ref TEXT, sent REAL
);
"""
RESEND_COOLDOWN_S = 120.0


class IssueError(ValueError):
    pass


@dataclass
class Issued:
    bank: str
    compartment: int
    kind: str
    code: str
    valid_from: float
    valid_until: float
    seq: int
    new: bool

    def public(self) -> dict[str, Any]:
        """What may be shown or logged: everything but the code."""
        iso = lambda t: datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%MZ")  # noqa: E731
        return {"bank": self.bank, "compartment": self.compartment, "kind": self.kind,
                "valid_from": iso(self.valid_from), "valid_until": iso(self.valid_until),
                "seq": self.seq, "reused": not self.new}


class CodeBook:
    def __init__(self, reg: Registry) -> None:
        self.reg = reg
        self.db = reg.db
        self.db.executescript(_SCHEMA)
        self.codes = load("codes")

    def _key(self, bank: str) -> bytes:
        dev = self.reg.get(bank)
        if dev is None or dev.role != "locker":
            raise IssueError(f"{bank!r} is not a locker bank in the registry "
                             "(bourg provision add ... with role locker)")
        return bytes.fromhex(self.reg.secrets(bank)["bank_key"])

    def hours_left(self, kind: str, start_s: float) -> float:
        """Hours from start_s to the end of its code window (a deposit code's: 00:00 UTC)."""
        _, until = self.codes.window(kind, start_s)
        return (until - start_s) / 3600

    def issue(self, bank: str, compartment: int, kind: str, start_s: float, hours: float,
              now_s: float | None = None) -> Issued:
        codes = self.codes
        now_s = time.time() if now_s is None else now_s
        if kind not in codes.VALID_DAYS:
            raise IssueError("kind must be pickup, deposit or retrieve")
        if not 1 <= compartment <= codes.MAX_COMPARTMENT:
            raise IssueError(f"compartment must be 1..{codes.MAX_COMPARTMENT}")
        start, until = codes.window(kind, start_s)
        if start_s + hours * 3600 > until:
            raise IssueError(f"a {kind} code is valid {codes.VALID_DAYS[kind] * 24} h from "
                             "00:00 UTC of its first day; --hours reaches past that")
        if until <= now_s:
            raise IssueError("that window has already ended")
        key = self._key(bank)
        day = int(start_s) // codes.DAY
        live = self.db.execute(
            "SELECT sbit, seq, code, valid_from, valid_until FROM locker_codes WHERE bank=? "
            "AND compartment=? AND kind=? AND day=?", (bank, compartment, kind, day)).fetchall()
        if live:
            # the same compartment, kind and day: the live code (a resend is the same code)
            sbit, seq, code, vf, vu = max(live, key=lambda r: r[1])
            return Issued(bank, compartment, kind, code, vf, vu, seq, False)
        row = self.db.execute("SELECT MAX(seq) FROM locker_codes WHERE bank=? AND "
                              "compartment=? AND kind=?", (bank, compartment, kind)).fetchone()
        seq = 0 if row[0] is None else row[0] + 1
        code = codes.issue(key, bank, compartment, kind, start_s, seq)
        with self.db:
            self.db.execute("INSERT INTO locker_codes VALUES (?,?,?,?,?,?,?,?,?,?)",
                            (bank, compartment, kind, day, seq & 1, seq, code, start, until,
                             now_s))
        return Issued(bank, compartment, kind, code, start, until, seq, True)

    def renew(self, bank: str, compartment: int, kind: str, start_s: float) -> Issued:
        """A second live code for the same day (the first was lost): the other seq bit."""
        codes = self.codes
        key = self._key(bank)
        day = int(start_s) // codes.DAY
        used = {r[0] for r in self.db.execute(
            "SELECT sbit FROM locker_codes WHERE bank=? AND compartment=? AND kind=? AND day=?",
            (bank, compartment, kind, day))}
        if len(used) >= 2:
            raise IssueError("two codes are already live for this compartment and day")
        row = self.db.execute("SELECT MAX(seq) FROM locker_codes WHERE bank=? AND "
                              "compartment=? AND kind=?", (bank, compartment, kind)).fetchone()
        seq = 0 if row[0] is None else row[0] + 1
        if (seq & 1) in used:
            seq += 1
        code = codes.issue(key, bank, compartment, kind, start_s, seq)
        start, until = codes.window(kind, start_s)
        with self.db:
            self.db.execute("INSERT INTO locker_codes VALUES (?,?,?,?,?,?,?,?,?,?)",
                            (bank, compartment, kind, day, seq & 1, seq, code, start, until,
                             time.time()))
        return Issued(bank, compartment, kind, code, start, until, seq, True)

    def send(self, issued: Issued, phone: str, lang: str, provider: Provider,
             place: str = "", now_s: float | None = None) -> Delivery:
        """Send the code by SMS once: a retry after success returns the first delivery, a new
        send to the same phone within RESEND_COOLDOWN_S is refused."""
        now_s = time.time() if now_s is None else now_s
        to = check_phone(phone)
        base = hashlib.sha256(f"{issued.bank}|{issued.code}|{to}".encode()).hexdigest()[:32]
        rows = self.db.execute("SELECT idem, provider, status, ref, sent FROM locker_sms WHERE "
                               "idem LIKE ? ORDER BY rowid", (base + "%",)).fetchall()
        idem = base
        if rows:
            last = rows[-1]
            if last[2] == "failed":
                idem = last[0]  # a retry of a failed send: the same key, never a duplicate
            elif now_s - (last[4] or 0) < RESEND_COOLDOWN_S:
                return Delivery(last[1], last[2], last[3] or "")  # sent just now: not again
            else:
                idem = f"{base}-{len(rows)}"  # a deliberate resend, later
        until = datetime.fromtimestamp(issued.valid_until, UTC).strftime(
            "%d/%m %H:%M UTC" if lang == "fr" else "%d %b %H:%M UTC")
        text = render(lang, issued.kind, compartment=issued.compartment,
                      place=place or issued.bank, code=issued.code, until=until)
        try:
            d = provider.send(to, text, idem)
        except SmsError:
            with self.db:
                self.db.execute("INSERT OR REPLACE INTO locker_sms VALUES (?,?,?,?,?,?,?)",
                                (idem, issued.bank, to, provider.name, "failed", None, None))
            raise
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO locker_sms VALUES (?,?,?,?,?,?,?)",
                            (idem, issued.bank, to, d.provider, d.status, d.ref, now_s))
        return d


def parse_when(text: str) -> float:
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise IssueError(f"--from wants an ISO date and time, got {text!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


__all__ = ["CodeBook", "IssueError", "Issued", "RegistryError", "parse_when"]
