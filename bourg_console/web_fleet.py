"""The staff's view of the fleet: every board, online or not, its firmware, why it last
booted, safe mode and why, and its heap and event queue as its last `reply/status` said.
Technicians and operators only.

No `from __future__ import annotations` here: FastAPI reads the routes' annotations, and a
dependency type made inside add_routes cannot be found again from a string."""

from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from bourg_console.accounts import User
from bourg_console.fiware import iso
from bourg_console.store import Store
from bourg_console.web_auth import Gate


def fleet_rows(store: Store) -> list[dict[str, Any]]:
    rows = []
    status = store.states("reply/status")
    for b in store.boards():
        st = status.get((b["site"], b["device"]), {})
        mem, queue = st.get("mem_free"), st.get("queue")
        rows.append({**b, "last_seen_iso": iso(b["last_seen"]),
                     "mem_free": mem if isinstance(mem, int) else None,
                     "queue": queue if isinstance(queue, int) else None})
    return rows


def add_routes(app: FastAPI, store: Store, gate: Gate) -> None:
    Staff = Annotated[User, Depends(gate.user("technician"))]

    @app.get("/api/v1/fleet", tags=["staff"])
    def fleet_api(user: Staff) -> list[dict[str, Any]]:
        """Every board the console has heard (technicians and operators)."""
        return fleet_rows(store)

    @app.get("/fleet", response_class=HTMLResponse, include_in_schema=False)
    def fleet_page(request: Request, user: Staff) -> Response:
        return gate.page(request, "fleet.html", {"boards": fleet_rows(store)})
