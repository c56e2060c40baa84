"""Telling people about alarms by SMS, through the same providers as the locker codes
(host_tools.locker.sms: an outbox folder, an HTTP gateway, a GSM modem).

- **Raised**: each new alarm goes to the on-call numbers once.
- **Escalated**: an alarm nobody has acknowledged `escalate_after_s` after it was raised goes
  to the escalation numbers, once.
- **Reminder**: while a board stays offline, the on-call numbers are reminded every
  `remind_every_s`.
Decisions are pure (`due`); `Notifier.tick` runs them at each heartbeat. A stage counts as
done only once every number has it; a failed send is recorded and tried again at the next
beat, under the same idempotency key, so a provider that did send it never sends it twice.
A message names the site, the board, the alarm and when: no secret, no code."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update

from bourg_console import schema as s
from bourg_console.alarms import OFFLINE
from bourg_console.store import Store
from host_tools.locker.sms import Provider, SmsError, check_phone

log = logging.getLogger("bourg_console.notify")


@dataclass(frozen=True)
class Policy:
    on_call: tuple[str, ...]
    escalate_to: tuple[str, ...] = ()
    escalate_after_s: float = 15 * 60
    remind_every_s: float = 60 * 60

    def __post_init__(self) -> None:
        for n in self.on_call + self.escalate_to:
            check_phone(n)  # ValueError naming the number
        if not self.on_call:
            raise ValueError("at least one on-call number is needed")
        if self.escalate_after_s <= 0 or self.remind_every_s <= 0:
            raise ValueError("escalation and reminder periods must be over 0")


@dataclass(frozen=True)
class Due:
    stage: str  # "raised", "escalated", "reminder"
    to: tuple[str, ...]
    n: int = 0  # the reminder's number, for its idempotency key


def due(alarm: dict[str, Any], now: float, p: Policy) -> list[Due]:
    """What is owed for one alarm now."""
    out: list[Due] = []
    standing = alarm["cleared_at"] is None
    if alarm["notified_at"] is None and standing:
        out.append(Due("raised", p.on_call))
    if (standing and alarm["acked_at"] is None and alarm["escalated_at"] is None
            and p.escalate_to and now - alarm["raised_at"] >= p.escalate_after_s):
        out.append(Due("escalated", p.escalate_to))
    if standing and alarm["kind"] == OFFLINE and alarm["notified_at"] is not None:
        last = alarm["reminded_at"] or alarm["notified_at"]
        if now - last >= p.remind_every_s:
            out.append(Due("reminder", p.on_call, alarm["reminders"] + 1))
    return out


def text(alarm: dict[str, Any], stage: str, site: str) -> str:
    when = datetime.fromtimestamp(alarm["raised_at"], UTC).strftime("%d/%m %H:%M UTC")
    head = {"raised": "ALARM", "escalated": "NOT ACKNOWLEDGED",
            "reminder": "STILL OFFLINE"}[stage]
    return f"bourg {site}: {head} {alarm['device']} {alarm['kind']} since {when}"


@dataclass
class Notifier:
    store: Store
    provider: Provider
    policy: Policy
    site: str

    def tick(self, now: float) -> None:
        """Send what is owed for every standing alarm (one raised and cleared between two
        beats is in the list, not in anyone's pocket)."""
        a = s.alarms
        with self.store.engine.connect() as c:
            standing = [dict(r._mapping) for r in c.execute(
                select(a).where(a.c.cleared_at.is_(None)).order_by(a.c.id))]
        for alarm in standing:
            for d in due(alarm, now, self.policy):
                if self._send_all(alarm, d, now):
                    self._mark(alarm["id"], d, now)

    def _send_all(self, alarm: dict[str, Any], d: Due, now: float) -> bool:
        """Send one stage to each number that does not have it yet; True once all do."""
        ok = True
        stage = d.stage if d.n == 0 else f"{d.stage}{d.n}"
        have = self._delivered(alarm["id"], stage)
        body = text(alarm, d.stage, self.site)
        for phone in d.to:
            if phone in have:
                continue  # a retry after another number failed: not twice to this one
            idem = hashlib.sha256(f"{alarm['id']}|{stage}|{phone}".encode()).hexdigest()[:32]
            try:
                got = self.provider.send(phone, body, idem)
                self._record(alarm["id"], stage, phone, got.status, got.provider, got.ref,
                             None, now)
            except (SmsError, OSError, ValueError) as e:  # a modem unplugged, a full disk
                ok = False
                self._record(alarm["id"], stage, phone, "failed", None, None, str(e), now)
                log.warning("could not notify %s of alarm %s: %s", phone, alarm["id"], e)
        return ok

    def _delivered(self, alarm_id: int, stage: str) -> set[str]:
        n = s.notifications
        with self.store.engine.connect() as c:
            return {r.phone for r in c.execute(select(n.c.phone).where(
                n.c.alarm_id == alarm_id, n.c.stage == stage, n.c.status != "failed"))}

    def _record(self, alarm_id: int, stage: str, phone: str, status: str,
                provider: str | None, ref: str | None, error: str | None, now: float) -> None:
        with self.store.engine.begin() as c:
            c.execute(insert(s.notifications).values(
                alarm_id=alarm_id, stage=stage, phone=phone, status=status[:16],
                provider=provider, ref=(ref or "")[:64], error=(error or "")[:200] or None,
                at=now))

    def _mark(self, alarm_id: int, d: Due, now: float) -> None:
        col: dict[str, Any] = {"raised": {"notified_at": now},
                               "escalated": {"escalated_at": now},
                               "reminder": {"reminded_at": now, "reminders": d.n}}[d.stage]
        with self.store.engine.begin() as c:
            c.execute(update(s.alarms).where(s.alarms.c.id == alarm_id).values(**col))

    def history(self, alarm_id: int) -> list[dict[str, Any]]:
        with self.store.engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(
                select(s.notifications).where(s.notifications.c.alarm_id == alarm_id)
                .order_by(s.notifications.c.id))]

