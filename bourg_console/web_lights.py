"""The street lights' page: every pole's level, mode, energy and alarms with its charts, and
the forms that push a night profile or an override to chosen poles (lights.py). Technicians
and operators; every command is audited (commands.py).

No `from __future__ import annotations`: FastAPI reads these routes' annotations."""

from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from bourg_console import lights
from bourg_console.accounts import Session, User
from bourg_console.commands import Commander
from bourg_console.store import Store
from bourg_console.topics import NAME
from bourg_console.web_auth import Gate

INLINE_CHARTS = 24  # up to this many poles, /lights draws each one's charts


def add_routes(app: FastAPI, store: Store, gate: Gate, commander: Commander | None) -> None:
    Staff = Annotated[User, Depends(gate.user("technician"))]

    def page(request: Request, **extra: Any) -> Response:
        rows = lights.pole_rows(store)
        if len(rows) <= INLINE_CHARTS:  # a street's poles each with its charts; a town's
            for r in rows:              # on each pole's own page
                r["charts"] = lights.pole_charts(store, r["site"], r["device"])
        profile = extra.pop("profile", None)
        if profile is None and rows:
            last = store.state(rows[0]["site"], rows[0]["device"], "reply/settings") or {}
            profile = ((last.get("settings") or {}).get("app") or {}).get("profile")
        return gate.page(request, "lights.html", {
            "groups": store.groups(),
            "poles": rows, "rows": lights.form_rows(profile), "profile": profile or {},
            "results": [], "errors": {}, "chosen": {r["device"] for r in rows}, "group": "",
            **extra})

    def chosen(form: Any) -> list[str]:
        """The poles ticked, and those of the group chosen, if any."""
        known = {b["device"] for b in lights.poles(store)}
        picked = [str(d) for d in form.getlist("pole")]
        group = str(form.get("group", ""))
        if group:
            members = store.groups().get(group)
            if members is None:
                raise HTTPException(422, f"no group {group[:40]!r}")
            picked += [d for d in members if d in known and d not in picked]
        unknown = [d for d in picked if d not in known]
        if unknown:
            raise HTTPException(422, f"no pole {unknown[0][:40]!r}")
        return picked

    def send(sess: Session, poles: list[str], name: str, payload: dict[str, Any]
             ) -> list[dict[str, Any]]:
        """Each pole in turn, waiting for its reply: run in a worker thread, never on the
        event loop, which serves every other page meanwhile. A pole whose last word was
        `offline` is not sent the command: it would drop it (a board reconnects with a clean
        session), and waiting for its reply would hold the others up 10 s."""
        if commander is None:
            raise HTTPException(503, "this console sends no commands")
        offline = {b["device"] for b in lights.poles(store) if b["online"] is False}
        out = []
        for device in poles:
            if device in offline:
                gate.accounts.audit(gate.now(), sess.user.name, "command_not_sent",
                                    f"{device} cmd/{name}",
                                    {"payload": payload, "reason": "offline"})
                out.append({"device": device, "reply": None, "offline": True})
                continue
            reply = commander.call(sess.user.name, device, name, payload)
            out.append({"device": device, "reply": reply})
        return out

    @app.get("/api/v1/lights", tags=["staff"])
    def lights_api(user: Staff) -> list[dict[str, Any]]:
        """Every pole: level, mode, reason, energy counters, standing alarms."""
        return lights.pole_rows(store)

    @app.get("/lights", response_class=HTMLResponse, include_in_schema=False)
    def lights_page(request: Request, user: Staff) -> Response:
        return page(request)

    @app.get("/lights/pole/{device}", response_class=HTMLResponse, include_in_schema=False)
    def pole_page(request: Request, device: str, user: Staff) -> Response:
        row = lights.one_pole_row(store, device)
        if row is None:
            raise HTTPException(404, f"no pole {device[:40]!r} has been heard")
        row["charts"] = lights.pole_charts(store, row["site"], device)
        return gate.page(request, "pole.html", {"p": row})

    _group_route(app, store, gate, page)

    _command_routes(app, gate, page, chosen, send)


def _command_routes(app: FastAPI, gate: Gate, page: Any, chosen: Any, send: Any) -> None:
    """The override and the night profile, to the chosen poles."""
    StaffWrite = Annotated[Session, Depends(gate.writer("technician"))]

    @app.post("/lights/override", response_class=HTMLResponse, include_in_schema=False)
    async def override(request: Request, sess: StaffWrite) -> Response:
        form = await request.form()
        poles = chosen(form)
        payload, error = lights.check_override(str(form.get("level", "")),
                                               str(form.get("minutes", "")))
        group = str(form.get("group", ""))
        if payload is None or not poles:
            return await run_in_threadpool(page, request, group=group,
                                           override_error=error or "choose at least one pole")
        results = await run_in_threadpool(send, sess, poles, "override", payload)
        return await run_in_threadpool(page, request, results=_summary(results),
                                       chosen=set(poles), group=group)

    @app.post("/lights/profile", response_class=HTMLResponse, include_in_schema=False)
    async def profile(request: Request, sess: StaffWrite) -> Response:
        form = await request.form()
        poles = chosen(form)
        prof = lights.profile_from_form({k: str(v) for k, v in form.items()})
        bad = lights.check_profile(prof)
        group = str(form.get("group", ""))
        if bad is not None or not poles:
            errors = {bad[0]: bad[1]} if bad else {"poles": "choose at least one pole"}
            return await run_in_threadpool(page, request, profile=prof,
                                           errors=errors, chosen=set(poles), group=group)
        results = await run_in_threadpool(send, sess, poles, "settings",
                                          {"app": {"profile": prof}})
        errors = {}
        for r in results:
            if r["reply"] is not None and not r["reply"].get("ok"):
                f, reason = lights.error_field(str(r["reply"].get("error", "")))
                errors[f or "profile"] = f"{r['device']}: {reason}"
        return await run_in_threadpool(page, request, profile=prof, errors=errors,
                                       results=_summary(results), chosen=set(poles),
                                       group=group)


def _group_route(app: FastAPI, store: Store, gate: Gate, page: Any) -> None:
    StaffWrite = Annotated[Session, Depends(gate.writer("technician"))]

    @app.post("/lights/groups", response_class=HTMLResponse, include_in_schema=False)
    async def save_group(request: Request, sess: StaffWrite) -> Response:
        """Name the ticked poles as a group (the same name again replaces it; no pole
        ticked deletes it)."""
        form = await request.form()
        name = str(form.get("name", "")).strip()
        if not NAME.match(name):
            return await run_in_threadpool(page, request, group_error="a group's "
                                           "name is 1..32 of A-Z a-z 0-9 _ . -")
        poles = [str(d) for d in form.getlist("pole")]
        known = {b["device"] for b in lights.poles(store)}
        if any(d not in known for d in poles):
            raise HTTPException(422, "no such pole")
        if poles:
            store.save_group(name, poles, gate.now())
            gate.accounts.audit(gate.now(), sess.user.name, "group_saved", name,
                                {"poles": sorted(poles)})
        elif store.delete_group(name):
            gate.accounts.audit(gate.now(), sess.user.name, "group_deleted", name, {})
        return await run_in_threadpool(page, request, chosen=set(poles))


def _summary(results: list[dict[str, Any]]) -> list[dict[str, str]]:
    out = []
    for r in results:
        reply = r["reply"]
        if r.get("offline"):
            said = ("offline: not sent, as a board off the network would drop it; send it "
                    "again once the pole is back")
        elif reply is None:
            said = ("no answer within 10 s: it may not have got the command (a board off the "
                    "network drops it); check the pole and send again")
        elif reply.get("ok"):
            said = "ok"
        else:
            said = str(reply.get("error", "refused"))
        out.append({"device": r["device"], "said": said,
                    "ok": bool(reply and reply.get("ok"))})
    return out
