"""The operators' accounts page: every account, and adding one, giving one a new password
(which also lifts a lock and ends its sessions) and removing one. The console makes each
password (accounts.new_password) and shows it once, in the answer to the operator who asked,
never in a page after, the audit or a log; the operator passes it on.

No `from __future__ import annotations`: FastAPI reads these routes' annotations."""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from bourg_console.accounts import AccountError, Session, User, new_password
from bourg_console.fiware import iso
from bourg_console.web_auth import Gate

NO_STORE = {"Cache-Control": "no-store"}  # an answer that carries a password


class NewAccount(BaseModel):
    name: str = Field(description="1..64 of a-z 0-9 _ . @ -")
    role: str = Field(description="operator, technician or merchant")
    bank: str | None = Field(None, description="a merchant's locker bank (device id)")


class _Desk:
    """What the page and the API both do, with AccountError as the HTTP error it is."""

    def __init__(self, gate: Gate) -> None:
        self.gate, self.accounts = gate, gate.accounts

    def add(self, sess: Session, req: NewAccount) -> dict[str, Any]:
        password = new_password()
        try:
            self.accounts.add_user(req.name, req.role, password, self.gate.now(),
                                   bank=req.bank or None, actor=sess.user.name)
        except AccountError as e:
            raise HTTPException(422, str(e)) from None
        return {"name": req.name, "role": req.role, "bank": req.bank or None,
                "password": password}

    def reset(self, sess: Session, name: str) -> dict[str, Any]:
        password = new_password()
        try:
            self.accounts.set_password(name, password, self.gate.now(), actor=sess.user.name)
        except AccountError as e:
            raise HTTPException(404, str(e)) from None
        return {"name": name, "password": password}

    def remove(self, sess: Session, name: str) -> dict[str, Any]:
        try:
            self.accounts.remove_user(name, self.gate.now(), actor=sess.user.name)
        except AccountError as e:
            raise HTTPException(404 if "no account" in str(e) else 409, str(e)) from None
        return {"name": name, "removed": True}


def add_routes(app: FastAPI, gate: Gate) -> None:
    desk = _Desk(gate)
    _api_routes(app, gate, desk)
    _page_routes(app, gate, desk)


def _api_routes(app: FastAPI, gate: Gate, desk: _Desk) -> None:
    Operator = Annotated[User, Depends(gate.user())]
    OperatorWrite = Annotated[Session, Depends(gate.writer())]

    @app.get("/api/v1/accounts", tags=["accounts"])
    def accounts_api(user: Operator) -> list[dict[str, Any]]:
        """Every account: name, role, bank, and until when it is locked (operators)."""
        return gate.accounts.accounts(gate.now())

    @app.post("/api/v1/accounts", tags=["accounts"])
    def add_api(req: NewAccount, sess: OperatorWrite) -> Response:
        """Add an account (header X-CSRF-Token). The answer carries its password, made by
        the console and shown this once."""
        return _json(desk.add(sess, req))

    @app.post("/api/v1/accounts/{name}/password", tags=["accounts"])
    def reset_api(name: str, sess: OperatorWrite) -> Response:
        """Give an account a new password, shown this once; its sessions end and a lock is
        lifted (header X-CSRF-Token)."""
        return _json(desk.reset(sess, name))

    @app.delete("/api/v1/accounts/{name}", tags=["accounts"])
    def remove_api(name: str, sess: OperatorWrite) -> dict[str, Any]:
        """Remove an account and end its sessions (header X-CSRF-Token). Not one's own, nor
        the last operator."""
        return desk.remove(sess, name)


def _page_routes(app: FastAPI, gate: Gate, desk: _Desk) -> None:
    Operator = Annotated[User, Depends(gate.user())]
    OperatorWrite = Annotated[Session, Depends(gate.writer())]

    @app.get("/accounts", response_class=HTMLResponse, include_in_schema=False)
    def accounts_page(request: Request, user: Operator) -> Response:
        return _page(request, None)

    @app.post("/accounts", response_class=HTMLResponse, include_in_schema=False)
    def add_form(request: Request, sess: OperatorWrite, name: str = Form(""),
                 role: str = Form(""), bank: str = Form("")) -> Response:
        return _answer(request, lambda: desk.add(sess, NewAccount(name=name, role=role,
                                                                  bank=bank or None)))

    @app.post("/accounts/{name}/password", response_class=HTMLResponse,
              include_in_schema=False)
    def reset_form(request: Request, name: str, sess: OperatorWrite) -> Response:
        return _answer(request, lambda: desk.reset(sess, name))

    @app.post("/accounts/{name}/remove", response_class=HTMLResponse,
              include_in_schema=False)
    def remove_form(request: Request, name: str, sess: OperatorWrite) -> Response:
        return _answer(request, lambda: desk.remove(sess, name))

    def _answer(request: Request, act: Callable[[], dict[str, Any]]) -> Response:
        try:
            result = {"ok": True, **act()}
        except HTTPException as e:
            result = {"ok": False, "error": e.detail}
        return _page(request, result)

    def _page(request: Request, result: dict[str, Any] | None) -> Response:
        rows = [{**a, "created": iso(a["created_at"]),
                 "locked": iso(a["locked_until"]) if a["locked_until"] else ""}
                for a in gate.accounts.accounts(gate.now())]
        page = gate.page(request, "accounts.html", {"rows": rows, "result": result})
        page.headers.update(NO_STORE)
        return page


def _json(body: dict[str, Any]) -> Response:
    return JSONResponse(body, headers=NO_STORE)
