"""Locker codes from the console: a merchant issues a deposit, pickup or retrieve code for a
compartment of its own bank and the console sends it by SMS through the site's provider
(`host_tools.locker`: the same code book and providers as `bourg locker issue`).

- The code goes to the phone only: it is never shown, returned, logged or audited. What the
  console keeps and shows is the delivery (provider, status, reference), the window and a
  masked phone number.
- Every issue is a new code (CodeBook.issue: never one issued before), unless the last one
  for that compartment and kind never reached this number: then that one is sent again,
  under the same idempotency key, so the provider never sends one code twice and a failed
  SMS does not spend one of the compartment's few codes.
- Issues are serialized: two merchants at the same second never get the same (day, bit).
- The registry (the banks' keys) is opened for each issue and closed after, read-write,
  because the code book records every code it hands out."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from host_tools.field.registry import Registry, RegistryError
from host_tools.locker.issue import CodeBook, IssueError
from host_tools.locker.sms import (
    Provider,
    SmsError,
    check_phone,
    provider_from_file,
    render,
)

KINDS = ("deposit", "pickup", "retrieve")


class CodeDeskError(ValueError):
    """A code that could not be issued or sent; the message is for the merchant."""


def mask_phone(phone: str) -> str:
    """Enough to tell two customers apart on a screen, not enough to call one."""
    return phone[:3] + "*" * max(0, len(phone) - 5) + phone[-2:]


@dataclass(frozen=True)
class Sent:
    bank: str
    compartment: int
    kind: str
    phone: str  # masked
    valid_from: str
    valid_until: str
    provider: str
    status: str
    ref: str

    def public(self) -> dict[str, Any]:
        return dict(self.__dict__)


class CodeDesk:
    def __init__(self, registry: Path, sms_config: Path, place: str = "") -> None:
        self.registry, self.sms_config, self.place = registry, sms_config, place
        self._lock = threading.Lock()

    def _provider(self) -> Provider:
        try:
            return provider_from_file(self.sms_config)
        except (OSError, ValueError) as e:
            raise CodeDeskError(f"the console's SMS provider is not usable ({e})") from None

    def issue_and_send(self, bank: str, compartment: int, kind: str, phone: str, lang: str,
                       now: float, hours: float | None = None) -> Sent:
        """Everything that can be checked is checked before a code is spent: the kind, the
        number, the language, the provider. A code whose SMS failed is sent again, to the
        same number, on the next ask, instead of a new one. No provider's words reach the
        merchant or the log: a modem's error can echo the message, code included."""
        if kind not in KINDS:
            raise CodeDeskError(f"kind must be one of {', '.join(KINDS)}")
        try:
            to = check_phone(phone)
            render(lang, kind, compartment=compartment, place="", code="", until="")
        except ValueError as e:
            raise CodeDeskError(str(e)) from None
        provider = self._provider()
        with self._lock:
            try:
                with Registry(self.registry, create=False) as reg:
                    book = CodeBook(reg)
                    issued = book.unsent(bank, compartment, kind, to, now) or \
                        book.issue_or_resend(bank, compartment, kind, now, hours, now_s=now)
                    d = book.send(issued, to, lang, provider, self.place, now_s=now)
            except (IssueError, RegistryError) as e:
                raise CodeDeskError(str(e)) from None
            except (SmsError, OSError):
                raise CodeDeskError("the SMS provider did not take the message, so the code "
                                    "was not delivered; ask again and the same code is "
                                    "sent") from None
        pub = issued.public()
        return Sent(bank, compartment, kind, mask_phone(to), pub["valid_from"],
                    pub["valid_until"], d.provider, d.status, d.ref)

    def recent(self, bank: str, limit: int = 10) -> list[dict[str, Any]]:
        """The bank's latest code SMS, from whoever sent them (this console, `bourg locker
        issue`): masked number, provider, status, when. Never the code."""
        try:
            with Registry(self.registry, create=False) as reg:
                CodeBook(reg)  # makes the code book's tables if nothing was issued yet
                rows = reg.db.execute(
                    "SELECT phone, provider, status, sent FROM locker_sms WHERE bank=? "
                    "ORDER BY rowid DESC LIMIT ?", (bank, limit)).fetchall()
        except (RegistryError, OSError):
            return []
        return [{"phone": mask_phone(p), "provider": pr or "", "status": st,
                 "sent": datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%MZ")
                 if t else ""} for p, pr, st, t in rows]
