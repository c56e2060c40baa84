"""The operators' accounts page: every account, and adding one, giving one a new password
(which also lifts a lock and ends its sessions) and removing one. The console makes each
password (accounts.new_password) and shows it once, in the answer to the operator who asked,
never in a page after, the audit or a log; the operator passes it on.

No `from __future__ import annotations`: FastAPI reads these routes' annotations."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Form, Header, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from bourg_console.accounts import (
    AccountError,
    Conflict,
    LoginRefused,
    NoSuchAccount,
    Session,
    User,
    new_password,
)
from bourg_console.fiware import iso
from bourg_console.web_auth import Gate

NO_STORE = {"Cache-Control": "no-store"}  # an answer that carries a password


class NewAccount(BaseModel):
    name: str = Field(description="1..64 of a-z 0-9 _ . @ -")
    role: str = Field(description="operator, technician or merchant")
    bank: str | None = Field(None, description="a merchant's locker bank (device id)")


CONFIRM_HEADER = "X-Confirm-Password"  # the API's step-up: the operator's own password


class _Desk:
    """What the page and the API both do: the acting operator's password checked first
    (accounts.confirm), and AccountError as the HTTP error it is."""

    def __init__(self, gate: Gate) -> None:
        self.gate, self.accounts = gate, gate.accounts

    def add(self, sess: Session, confirm: str, req: NewAccount) -> dict[str, Any]:
        password = new_password()
        with self._answered(sess, confirm):
            self.accounts.add_user(req.name, req.role, password, self.gate.now(),
                                   bank=req.bank or None, actor=sess.user.name)
        return {"name": req.name, "role": req.role, "bank": req.bank or None,
                "password": password}

    def reset(self, sess: Session, confirm: str, name: str) -> dict[str, Any]:
        password = new_password()
        with self._answered(sess, confirm):
            self.accounts.set_password(name, password, self.gate.now(), actor=sess.user.name)
        return {"name": name, "password": password}

    def remove(self, sess: Session, confirm: str, name: str) -> dict[str, Any]:
        with self._answered(sess, confirm):
            self.accounts.remove_user(name, self.gate.now(), actor=sess.user.name)
        return {"name": name, "removed": True}

    @contextmanager
    def _answered(self, sess: Session, confirm: str) -> Iterator[None]:
        try:
            self.accounts.confirm(sess.user.name, confirm, self.gate.now())
            yield
        except LoginRefused:
            raise HTTPException(403, "your own password, typed again, is wrong") from None
        except NoSuchAccount as e:
            raise HTTPException(404, str(e)) from None
        except Conflict as e:
            raise HTTPException(409, str(e)) from None
        except AccountError as e:
            raise HTTPException(422, str(e)) from None


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

    Confirm = Annotated[str, Header(alias=CONFIRM_HEADER, description="your own password")]

    @app.post("/api/v1/accounts", tags=["accounts"])
    def add_api(req: NewAccount, sess: OperatorWrite, confirm: Confirm = "") -> Response:
        """Add an account (headers X-CSRF-Token and X-Confirm-Password). The answer carries
        its password, made by the console and shown this once."""
        return _json(desk.add(sess, confirm, req))

    @app.post("/api/v1/accounts/{name}/password", tags=["accounts"])
    def reset_api(name: str, sess: OperatorWrite, confirm: Confirm = "") -> Response:
        """Give an account a new password, shown this once; its sessions end and a lock is
        lifted (headers X-CSRF-Token and X-Confirm-Password)."""
        return _json(desk.reset(sess, confirm, name))

    @app.delete("/api/v1/accounts/{name}", tags=["accounts"])
    def remove_api(name: str, sess: OperatorWrite, confirm: Confirm = "") -> dict[str, Any]:
        """Remove an account and end its sessions (headers X-CSRF-Token and
        X-Confirm-Password). Not one's own, nor the last operator."""
        return desk.remove(sess, confirm, name)


def _page_routes(app: FastAPI, gate: Gate, desk: _Desk) -> None:
    Operator = Annotated[User, Depends(gate.user())]
    OperatorWrite = Annotated[Session, Depends(gate.writer())]

    @app.get("/accounts", response_class=HTMLResponse, include_in_schema=False)
    def accounts_page(request: Request, user: Operator) -> Response:
        return _page(request, None)

    Confirm = Annotated[str, Form(alias="your_password")]

    @app.post("/accounts", response_class=HTMLResponse, include_in_schema=False)
    def add_form(request: Request, sess: OperatorWrite, name: str = Form(""),
                 role: str = Form(""), bank: str = Form(""), confirm: Confirm = "") -> Response:
        return _answer(request, lambda: desk.add(sess, confirm, NewAccount(
            name=name, role=role, bank=bank or None)))

    @app.post("/accounts/{name}/password", response_class=HTMLResponse,
              include_in_schema=False)
    def reset_form(request: Request, name: str, sess: OperatorWrite,
                   confirm: Confirm = "") -> Response:
        return _answer(request, lambda: desk.reset(sess, confirm, name))

    @app.post("/accounts/{name}/remove", response_class=HTMLResponse,
              include_in_schema=False)
    def remove_form(request: Request, name: str, sess: OperatorWrite,
                    confirm: Confirm = "") -> Response:
        return _answer(request, lambda: desk.remove(sess, confirm, name))

    def _answer(request: Request, act: Callable[[], dict[str, Any]]) -> Response:
        try:
            return _page(request, {"ok": True, **act()})
        except HTTPException as e:
            return _page(request, {"ok": False, "error": e.detail}, e.status_code)

    def _page(request: Request, result: dict[str, Any] | None, status: int = 200
              ) -> Response:
        rows = [{**a, "created": iso(a["created_at"]),
                 "locked": iso(a["locked_until"]) if a["locked_until"] else ""}
                for a in gate.accounts.accounts(gate.now())]
        page = gate.page(request, "accounts.html", {"rows": rows, "result": result},
                         status_code=status)
        page.headers.update(NO_STORE)
        return page


def _json(body: dict[str, Any]) -> Response:
    return JSONResponse(body, headers=NO_STORE)
