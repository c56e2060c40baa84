"""One list of alarms, with their lifecycle: raised, acknowledged (by whom, when), cleared.
Technicians and operators see and acknowledge them; each acknowledgement is audited. Also
the audit log itself, for operators.

No `from __future__ import annotations`: FastAPI reads these routes' annotations."""

import json
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from bourg_console.accounts import Session, User
from bourg_console.exports import csv_text
from bourg_console.fiware import iso
from bourg_console.store import Store
from bourg_console.web_auth import Gate

CSV_FIELDS = ("id", "site", "device", "kind", "raised_at", "acked_at", "acked_by",
              "cleared_at", "detail")


def _row(a: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for k in ("raised_at", "acked_at", "cleared_at"):
        out[k + "_iso"] = iso(a[k]) if a[k] is not None else ""
    return out


def add_routes(app: FastAPI, store: Store, gate: Gate) -> None:
    Staff = Annotated[User, Depends(gate.user("technician"))]
    StaffWrite = Annotated[Session, Depends(gate.writer("technician"))]
    Operator = Annotated[User, Depends(gate.user())]

    def ack(alarm_id: int, sess: Session) -> None:
        if not store.ack_alarm(alarm_id, sess.user.name, gate.now()):
            raise HTTPException(404, f"no unacknowledged alarm {alarm_id}")
        gate.accounts.audit(gate.now(), sess.user.name, "alarm_acked", f"alarm {alarm_id}",
                            {})

    @app.get("/api/v1/alarms", tags=["staff"])
    def alarms_api(user: Staff, standing: bool | None = None) -> list[dict[str, Any]]:
        """Alarms, newest first; `standing=true` for those not cleared."""
        return store.alarms(standing=standing)

    @app.post("/api/v1/alarms/{alarm_id}/ack", tags=["staff"])
    def ack_api(alarm_id: int, sess: StaffWrite) -> dict[str, Any]:
        """Acknowledge a standing alarm (header X-CSRF-Token)."""
        ack(alarm_id, sess)
        return {"ok": True, "id": alarm_id}

    @app.get("/api/v1/alarms.csv", tags=["staff"])
    def alarms_csv(user: Staff) -> Response:
        """Every alarm kept, as CSV."""
        text = csv_text(CSV_FIELDS, ([("" if a[k] is None else a[k]) for k in CSV_FIELDS[:-1]]
                                     + [json.dumps(a["detail"])]
                                     for a in store.alarms(limit=100000)))
        return Response(text, media_type="text/csv",
                        headers={"Content-Disposition": "attachment; filename=alarms.csv"})

    @app.get("/alarms", response_class=HTMLResponse, include_in_schema=False)
    def alarms_page(request: Request, user: Staff) -> Response:
        return gate.page(request, "alarms.html", {
            "standing": [_row(a) for a in store.alarms(standing=True)],
            "cleared": [_row(a) for a in store.alarms(standing=False, limit=100)]})

    @app.post("/alarms/{alarm_id}/ack", include_in_schema=False)
    def ack_form(alarm_id: int, sess: StaffWrite) -> Response:
        ack(alarm_id, sess)
        return RedirectResponse("/alarms", status_code=303)

    @app.get("/audit", response_class=HTMLResponse, include_in_schema=False)
    def audit_page(request: Request, user: Operator) -> Response:
        rows = [{**e, "at_iso": iso(e["at"])} for e in gate.accounts.audit_log(500)]
        return gate.page(request, "audit.html", {"rows": rows})
