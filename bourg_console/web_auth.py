"""Logging in and out, and the checks every staff page and write goes through.

- `Gate.user(roles)` is a FastAPI dependency: the session's user if it has one of `roles`
  (an operator always does); otherwise a page is redirected to /login and an API call gets
  401 (no session) or 403 (another role).
- `Gate.writer(roles)` also checks the CSRF token of a state-changing request: the form field
  `csrf` or the header `X-CSRF-Token` must equal the session's (compared in constant time).
  The login form, before any session, carries a token of its own, double-submitted in a
  cookie.
Cookies are HttpOnly and SameSite=Strict, and Secure when the console is reached over HTTPS."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from bourg_console.accounts import Accounts, LoginRefused, Session, User

COOKIE, LOGIN_COOKIE = "bourg_session", "bourg_login"
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


_UNSEEN = object()


class Gate:
    def __init__(self, accounts: Accounts, now: Callable[[], float]) -> None:
        self.accounts, self.now = accounts, now

    def session(self, request: Request) -> Session | None:
        """The request's session, looked up once per request (the role check and the page
        share it)."""
        sess = getattr(request.state, "bourg_session", _UNSEEN)
        if sess is _UNSEEN:
            sess = self.accounts.session(request.cookies.get(COOKIE), self.now())
            request.state.bourg_session = sess
        return sess  # type: ignore[return-value]

    def page(self, request: Request, template: str, context: dict[str, Any],
             status_code: int = 200) -> Response:
        """A page for the request's user: the template gets `user` and the session's
        `csrf` (for its forms) beside `context`."""
        sess = self.session(request)
        return TEMPLATES.TemplateResponse(request, template, {
            "user": sess.user if sess else None, "csrf": sess.csrf if sess else "",
            **context}, status_code=status_code)

    def _checked(self, request: Request, roles: tuple[str, ...]) -> Session:
        sess = self.session(request)
        api = request.url.path.startswith("/api/")
        if sess is None:
            if api:
                raise HTTPException(401, "log in first")
            # the path as sent, quoted: a header holds no character outside latin-1
            raise HTTPException(303, headers={
                "Location": "/login?" + urlencode({"next": request.url.path})})
        if not sess.user.may(*roles):
            raise HTTPException(403, f"a {sess.user.role} may not see this")
        return sess

    def user(self, *roles: str) -> Callable[[Request], User]:
        def dep(request: Request) -> User:
            return self._checked(request, roles).user
        return dep

    def writer(self, *roles: str) -> Callable[[Request], Awaitable[Session]]:
        async def dep(request: Request) -> Session:
            sess = self._checked(request, roles)
            sent = request.headers.get("x-csrf-token")
            if sent is None and request.headers.get("content-type", "").startswith(
                    ("application/x-www-form-urlencoded", "multipart/form-data")):
                sent = str((await request.form()).get("csrf", ""))
            if not sent or not _same(sent, sess.csrf):
                raise HTTPException(403, "missing or wrong CSRF token: reload the page")
            return sess
        return dep


def _same(sent: str, want: str) -> bool:
    """Constant-time comparison of a token; as bytes, since compare_digest refuses a str
    with a character outside ASCII (which anyone can send)."""
    return hmac.compare_digest(sent.encode(), want.encode())


def _cookie(response: Response, request: Request, name: str, value: str,
            max_age: int | None = None) -> None:
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/")


def _safe_next(target: str) -> str:
    """Only a path of this console: never an open redirect to another site."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


def add_routes(app: FastAPI, gate: Gate) -> None:
    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_page(request: Request, next: str = "/") -> Response:
        token = secrets.token_urlsafe(32)
        resp = TEMPLATES.TemplateResponse(request, "login.html", {
            "csrf": token, "next": _safe_next(next), "error": None, "user": None})
        _cookie(resp, request, LOGIN_COOKIE, token, max_age=3600)
        return resp

    @app.post("/login", include_in_schema=False)
    def login(request: Request, name: str = Form(""), password: str = Form(""),
              csrf: str = Form(""), next: str = Form("/")) -> Response:
        want = request.cookies.get(LOGIN_COOKIE, "")
        if not want or not _same(csrf, want):
            raise HTTPException(403, "the login form expired: reload the page")
        try:
            sess = gate.accounts.login(name.strip(), password, gate.now())
        except LoginRefused as e:
            return TEMPLATES.TemplateResponse(request, "login.html", {
                "csrf": want, "next": _safe_next(next), "error": str(e), "user": None},
                status_code=401)
        resp = RedirectResponse(_safe_next(next), status_code=303)
        _cookie(resp, request, COOKIE, sess.token)
        resp.delete_cookie(LOGIN_COOKIE, path="/")
        return resp

    @app.post("/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        sess = await gate.writer("technician", "merchant")(request)
        gate.accounts.logout(sess, gate.now())
        resp = RedirectResponse("/", status_code=303)
        resp.delete_cookie(COOKIE, path="/")
        return resp
