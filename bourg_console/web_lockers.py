"""Locker banks: compartments, standing alarms and the audit log each bank sends, and the
merchant's form that issues a code by SMS (codedesk.py). A merchant sees and issues for its
own bank only; a technician sees every bank and issues nothing; an operator does all.

No `from __future__ import annotations`: FastAPI reads these routes' annotations."""

from typing import Annotated, Any

from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field, ValidationError

from bourg_console.accounts import Session, User
from bourg_console.charts import ranges
from bourg_console.codedesk import KINDS, CodeDesk, CodeDeskError
from bourg_console.fiware import iso
from bourg_console.store import Store
from bourg_console.web_auth import Gate

COLD_HOURS = 24  # the cold chain shown on the page and in the API


class CodeRequest(BaseModel):
    compartment: int = Field(ge=1, le=255)
    kind: str = Field(description="deposit, pickup or retrieve")
    phone: str = Field(description="the customer's number, E.164 (+33612345678)")
    lang: str = Field("fr", description="the SMS's language: fr or en")
    hours: float | None = Field(None, gt=0, description="how long the code works")


def _banks(site_of: dict[str, str], user: User) -> list[str]:
    """The banks of `site_of` (every locker bank heard) this account may see."""
    return [b for b in site_of if user.role != "merchant" or b == user.bank]


def _may_issue(user: User, bank: str) -> None:
    if not (user.role == "operator" or (user.role == "merchant" and user.bank == bank)):
        raise HTTPException(403, "only the bank's merchant or an operator issues its codes")


def bank_view(store: Store, site_of: dict[str, str], bank: str, now: float
              ) -> dict[str, Any]:
    """A bank as the page and the API show it; its cold chain over the last COLD_HOURS."""
    site = site_of.get(bank)
    if site is None:
        raise HTTPException(404, f"no locker bank {bank!r} has been heard")
    comps = store.state(site, bank, "compartments") or {}
    audit = [{**e["data"], "received": iso(e["received_at"])}
             for e in store.events(site, bank, "audit")][-50:]
    cold = [{"compartment": r["compartment"], "ended": iso(r["ended_at"]),
             **{k: r[k] for k in ("ended_at", "every_s", "min_c", "max_c", "last_c",
                                  "failed", "limit_c")}}
            for r in store.temperatures(site, bank, now - COLD_HOURS * 3600)]
    return {"bank": bank, "site": site, "temperatures": cold,
            "compartments": [{"n": n, **v} for n, v in sorted(
                comps.items(), key=lambda kv: int(kv[0]) if kv[0].isdigit() else 0)
                if isinstance(v, dict)],
            "alarms": store.alarms(standing=True, device=bank, limit=None),
            "audit": audit[::-1]}


def cold_charts(series: list[dict[str, Any]]) -> list[str]:
    """A chart per refrigerated compartment: each period's lowest to highest reading, and
    the compartment's limit."""
    out = []
    for n in sorted({r["compartment"] for r in series}):
        rows = [r for r in series if r["compartment"] == n]
        labels, lows, highs = [], [], []
        for prev, r in zip([None, *rows], rows, strict=False):
            for _ in range(_missing(prev, r)):  # a hole in the series shows as one
                labels.append("")
                lows.append(None)
                highs.append(None)
            labels.append(r["ended"][11:16])
            lows.append(r["min_c"])
            highs.append(r["max_c"])
        failed = sum(r["failed"] for r in rows)
        out.append(ranges(labels, lows, highs, limit=rows[-1]["limit_c"], unit="°C",
                          title=f"compartment {n}, last {COLD_HOURS} h"
                          + (f", {failed} failed reads" if failed else "")))
    return out


def _missing(prev: dict[str, Any] | None, r: dict[str, Any]) -> int:
    """Periods with no figures between two rows of a series (a link or power outage)."""
    if prev is None:
        return 0
    gap = round((r["ended_at"] - prev["ended_at"]) / max(1, r["every_s"])) - 1
    return max(0, min(gap, COLD_HOURS * 3600 // max(1, r["every_s"])))


def add_routes(app: FastAPI, store: Store, gate: Gate, desk: CodeDesk | None) -> None:
    Anyone = Annotated[User, Depends(gate.user("technician", "merchant"))]
    Writer = Annotated[Session, Depends(gate.writer("merchant"))]

    def sites() -> dict[str, str]:
        return {b["device"]: b["site"] for b in store.boards(role="locker")}

    def issue(sess: Session, bank: str, req: CodeRequest) -> dict[str, Any]:
        _may_issue(sess.user, bank)
        if bank not in sites():
            raise HTTPException(404, f"no locker bank {bank!r} has been heard")
        if desk is None:
            raise HTTPException(503, "this console issues no codes (no --registry and --sms)")
        try:
            sent = desk.issue_and_send(bank, req.compartment, req.kind, req.phone, req.lang,
                                       gate.now(), req.hours)
        except CodeDeskError as e:
            gate.accounts.audit(gate.now(), sess.user.name, "code_refused", bank,
                                {"compartment": req.compartment, "kind": req.kind,
                                 "reason": str(e)[:200]})
            raise HTTPException(422, str(e)) from None
        gate.accounts.audit(gate.now(), sess.user.name, "code_sent", bank, sent.public())
        return sent.public()

    @app.get("/api/v1/lockers", tags=["lockers"])
    def lockers_api(user: Anyone) -> list[dict[str, Any]]:
        """The banks this account may see, each with its compartments, alarms and audit."""
        s = sites()
        return [bank_view(store, s, b, gate.now()) for b in _banks(s, user)]

    @app.post("/api/v1/lockers/{bank}/codes", tags=["lockers"])
    def code_api(bank: str, req: CodeRequest, sess: Writer) -> dict[str, Any]:
        """Issue a new code and send it by SMS (header X-CSRF-Token). The answer is the
        delivery, never the code."""
        return issue(sess, bank, req)

    @app.get("/lockers", response_class=HTMLResponse, include_in_schema=False)
    def lockers_page(request: Request, user: Anyone) -> Response:
        return _page(request, user, None)

    @app.post("/lockers/{bank}/codes", response_class=HTMLResponse, include_in_schema=False)
    def code_form(request: Request, bank: str, sess: Writer, compartment: int = Form(...),
                  kind: str = Form(...), phone: str = Form(...),
                  lang: str = Form("fr")) -> Response:
        try:
            req = CodeRequest(compartment=compartment, kind=kind, phone=phone, lang=lang)
        except ValidationError:
            return _page(request, sess.user, {"ok": False,
                                              "error": "compartment must be 1..255"})
        try:
            sent = issue(sess, bank, req)
            result = {"ok": True, **sent}
        except HTTPException as e:
            if e.status_code in (403, 404):
                raise
            result = {"ok": False, "error": e.detail}
        return _page(request, sess.user, result)

    def _page(request: Request, user: User, result: dict[str, Any] | None) -> Response:
        s = sites()
        banks = [bank_view(store, s, b, gate.now()) for b in _banks(s, user)]
        for b in banks:
            b["sms"] = desk.recent(b["bank"]) if desk is not None else []
            b["cold_charts"] = cold_charts(b["temperatures"])
        return gate.page(request, "lockers.html", {
            "banks": banks, "kinds": KINDS, "result": result,
            "may_issue": desk is not None and user.role in ("operator", "merchant")})
