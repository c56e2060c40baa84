"""Issuing locker codes on the host: the bank's key from the device registry, a fresh code for
every parcel (a (start day, sequence bit) pair never issued before for that compartment and
kind), the issued codes kept (0600, with the keys) so a resend is the same code and the same
SMS, a resend cooldown, and no duplicate send on retry."""

from __future__ import annotations

import hashlib
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from host_tools.field.registry import Registry, RegistryError
from host_tools.locker.fw import load
from host_tools.locker.sms import Delivery, Provider, SmsError, check_phone, render

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
# How long a code works when the issuer does not say: a day (a customer collects a parcel
# within one), cut to what is left of the code's window (a deposit code's ends at 00:00 UTC).
DEFAULT_HOURS = 24.0


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
        if not reg.read_only:  # a read-only registry still gives admin codes and resends
            self.db.executescript(_SCHEMA)
        self.codes = load("codes")

    def _key(self, bank: str) -> bytes:
        dev = self.reg.get(bank)
        if dev is None or dev.role != "locker":
            raise IssueError(f"{bank!r} is not a locker bank in the registry "
                             "(bourg provision add ... with role locker)")
        key = self.reg.bank_key(bank)
        if not key:
            raise IssueError(f"{bank!r} has no bank key in the registry")
        return bytes.fromhex(key)

    def admin_code(self, bank: str, now_s: float | None = None) -> str:
        """A one-off service code (20 digits) for the bank, made at now_s: typed on the
        keypad it clears the guess count and sets the bank's clock, which ends an outage after
        a lost or jumped clock. Nothing is saved: the code names its own minute, and the bank
        takes each only once."""
        now_s = time.time() if now_s is None else now_s
        return self.codes.issue_admin(self._key(bank), bank, now_s)

    def check_compartment(self, bank: str, compartment: int) -> None:
        """Refuse a compartment the bank does not have, when the registry knows its layout
        (`provision add` records it from the bank's config)."""
        known = self.reg.compartments(bank)
        if known is not None and compartment not in known:
            raise IssueError(f"{bank} has no compartment {compartment} (it has "
                             f"{', '.join(str(n) for n in known)})")

    def hours_left(self, kind: str, start_s: float) -> float:
        """Hours from start_s to the end of its code window (a deposit code's: 00:00 UTC)."""
        _, until = self.codes.window(kind, start_s)
        return (until - start_s) / 3600

    def default_hours(self, kind: str, start_s: float) -> float:
        """DEFAULT_HOURS, or less when the code's window ends sooner: a fixed 24 h would not
        fit a deposit code issued after midnight, and would be refused."""
        return min(DEFAULT_HOURS, self.hours_left(kind, start_s))

    def issue_or_resend(self, bank: str, compartment: int, kind: str, start_s: float,
                        hours: float | None = None, *, resend: bool = False,
                        now_s: float | None = None) -> Issued:
        """What `bourg locker issue` hands out: with `resend`, the last code issued for that
        compartment and kind again (a lost SMS: the same code, so the first one still works);
        else a new code from start_s for `hours` (None: default_hours)."""
        if resend:
            return self.resend(bank, compartment, kind, now_s)
        if hours is None:
            hours = self.default_hours(kind, start_s)
        return self.issue(bank, compartment, kind, start_s, hours, now_s)

    def issue(self, bank: str, compartment: int, kind: str, start_s: float, hours: float,
              now_s: float | None = None) -> Issued:
        """A new code for a new parcel (or a new deposit), working from start_s for `hours`:
        never one issued before, which may have been used already. A code names its start
        day and one sequence bit, so a compartment has two deposit codes a day, and six pickup
        or retrieve codes live at any time (three start days); the latest window is taken
        first. Refused when all are spent (resend() gives an issued one again)."""
        codes = self.codes
        now_s = time.time() if now_s is None else now_s
        if kind not in codes.VALID_DAYS:
            raise IssueError("kind must be pickup, deposit or retrieve")
        if not 1 <= compartment <= codes.MAX_COMPARTMENT:
            raise IssueError(f"compartment must be 1..{codes.MAX_COMPARTMENT}")
        self._key(bank)
        self.check_compartment(bank, compartment)
        _, until = codes.window(kind, start_s)
        if start_s + hours * 3600 > until:
            raise IssueError(f"a {kind} code is valid {codes.VALID_DAYS[kind] * 24} h from "
                             "00:00 UTC of its first day; --hours reaches past that")
        if until <= now_s:
            raise IssueError("that window has already ended")
        key = self._key(bank)
        taken = {(r[0], r[1]) for r in self.db.execute(
            "SELECT day, sbit FROM locker_codes WHERE bank=? AND compartment=? AND kind=?",
            (bank, compartment, kind))}
        first_day = int(start_s) // codes.DAY
        for day in range(first_day, first_day - codes.VALID_DAYS[kind], -1):
            until = (day + codes.VALID_DAYS[kind]) * codes.DAY
            if start_s + hours * 3600 > until:
                break
            for sbit in (0, 1):
                if (day, sbit) not in taken:
                    return self._new(key, bank, compartment, kind, day, sbit, now_s)
        raise IssueError(f"every {kind} code of compartment {compartment} that covers those "
                         "hours has been issued already (two per start day): give fewer "
                         "--hours or a later --from, or resend one")

    def _new(self, key: bytes, bank: str, compartment: int, kind: str, day: int, sbit: int,
             now_s: float) -> Issued:
        codes = self.codes
        row = self.db.execute("SELECT MAX(seq) FROM locker_codes WHERE bank=? AND "
                              "compartment=? AND kind=?", (bank, compartment, kind)).fetchone()
        seq = 0 if row[0] is None else row[0] + 1
        seq += (seq & 1) ^ sbit  # its low bit is the code's sequence bit
        code = codes.issue(key, bank, compartment, kind, day * codes.DAY, seq)
        start, until = codes.window(kind, day * codes.DAY)
        with self.db:
            self.db.execute("INSERT INTO locker_codes VALUES (?,?,?,?,?,?,?,?,?,?)",
                            (bank, compartment, kind, day, sbit, seq, code, start, until,
                             now_s))
        return Issued(bank, compartment, kind, code, start, until, seq, True)

    def resend(self, bank: str, compartment: int, kind: str,
               now_s: float | None = None) -> Issued:
        """The last code issued for that compartment and kind, while its window lasts."""
        now_s = time.time() if now_s is None else now_s
        self._key(bank)
        try:
            row = self.db.execute(
                "SELECT seq, code, valid_from, valid_until FROM locker_codes WHERE bank=? AND "
                "compartment=? AND kind=? AND valid_until>? ORDER BY created DESC, seq DESC "
                "LIMIT 1", (bank, compartment, kind, now_s)).fetchone()
        except sqlite3.OperationalError:  # a read-only registry that never held a code
            row = None
        if row is None:
            raise IssueError(f"no live {kind} code for compartment {compartment} to resend")
        seq, code, vf, vu = row
        return Issued(bank, compartment, kind, code, vf, vu, seq, False)

    def unsent(self, bank: str, compartment: int, kind: str, phone: str,
               now_s: float | None = None, start_s: float | None = None,
               hours: float | None = None) -> Issued | None:
        """The last live code of that compartment and kind if every send of it to `phone`
        failed: what a retry after a failed SMS should send, rather than spend a new code.
        With start_s, only if its window covers the one asked for (`hours` from start_s, by
        default default_hours): a retry for later dates gets a code for those."""
        try:
            last = self.resend(bank, compartment, kind, now_s)
        except IssueError:
            return None
        if start_s is not None:
            want = hours if hours is not None else self.default_hours(kind, start_s)
            if not last.valid_from <= start_s or last.valid_until < start_s + 3600 * want:
                return None
        base = _idem_base(bank, last.code, check_phone(phone))
        rows = self.db.execute("SELECT status FROM locker_sms WHERE idem LIKE ?",
                               (base + "%",)).fetchall()
        return last if rows and all(r[0] == "failed" for r in rows) else None

    def send(self, issued: Issued, phone: str, lang: str, provider: Provider,
             place: str = "", now_s: float | None = None) -> Delivery:
        """Send the code by SMS once: a retry after success returns the first delivery, a new
        send to the same phone within RESEND_COOLDOWN_S is refused."""
        now_s = time.time() if now_s is None else now_s
        to = check_phone(phone)
        base = _idem_base(issued.bank, issued.code, to)
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
        except (SmsError, OSError, ValueError) as e:
            # whatever the provider's way of failing (an outbox folder it cannot write, a
            # URL it cannot use), the send is recorded as failed, so unsent() gives the same
            # code to the retry instead of spending another
            with self.db:
                self.db.execute("INSERT OR REPLACE INTO locker_sms VALUES (?,?,?,?,?,?,?)",
                                (idem, issued.bank, to, provider.name, "failed", None, None))
            if isinstance(e, SmsError):
                raise
            raise SmsError(f"{provider.name}: {e}") from None
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO locker_sms VALUES (?,?,?,?,?,?,?)",
                            (idem, issued.bank, to, d.provider, d.status, d.ref, now_s))
        return d


def _idem_base(bank: str, code: str, phone: str) -> str:
    """The idempotency key of a code's SMS to a number (a resend later adds a suffix)."""
    return hashlib.sha256(f"{bank}|{code}|{phone}".encode()).hexdigest()[:32]


def parse_when(text: str, now: float | None = None) -> float:
    """An ISO date and time (UTC unless it says otherwise), or "now"."""
    if text == "now":
        return time.time() if now is None else now
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise IssueError(f"--from wants an ISO date and time, got {text!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


__all__ = ["DEFAULT_HOURS", "CodeBook", "IssueError", "Issued", "RegistryError", "parse_when"]
