"""The console's HTTP side: the app, its public parking pages and API.

Public and read-only, needing no login: parking availability as a page and as JSON
(`/api/v1/parking/...`, FIWARE names), with an OpenAPI document at `/api/v1/openapi.json`.
Staff pages and their API sit behind web_auth's gate (web_fleet.py, ...). FastAPI's
documentation UI is off: it loads its scripts from a CDN."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from bourg_console import (
    fiware,
    web_accounts,
    web_alarms,
    web_auth,
    web_fleet,
    web_lights,
    web_lockers,
    web_parking,
)
from bourg_console.accounts import Accounts
from bourg_console.availability import REFRESH_S, Availability
from bourg_console.codedesk import CodeDesk
from bourg_console.commands import Commander
from bourg_console.store import Store
from bourg_console.web_auth import Gate

log = logging.getLogger("bourg_console.web")
STREAM_POLL_S = 1.0  # how often the live stream looks for a change in the store
SITE_PATTERN = r"^[A-Za-z0-9_.\-]{1,32}$"  # a site's name, as a board's config allows


def create_app(store: Store, accounts: Accounts, *, now: Callable[[], float] = time.time,
               desk: CodeDesk | None = None, commander: Commander | None = None,
               max_stay_s: dict[str, float] | None = None,
               title: str = "bourg town console") -> FastAPI:
    """`desk` issues locker codes by SMS, `commander` sends the boards commands; without
    them the console does neither."""
    avail = Availability(store)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(_keep_fresh(avail))
        try:
            yield
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    app = FastAPI(title=title, version="1", openapi_url="/api/v1/openapi.json",
                  docs_url=None, redoc_url=None, lifespan=lifespan)
    gate = Gate(accounts, now)
    web_auth.add_routes(app, gate)
    web_accounts.add_routes(app, gate)
    web_fleet.add_routes(app, store, gate)
    web_alarms.add_routes(app, store, gate)
    web_lockers.add_routes(app, store, gate, desk)
    web_lights.add_routes(app, store, gate, commander)
    web_parking.add_routes(app, store, gate, max_stay_s or {})
    _public_routes(app, store, gate, avail)
    _live_routes(app, store, gate)
    return app


async def _keep_fresh(avail: Availability) -> None:
    """The availability snapshot's background task: a failed check (a locked database) is
    logged and tried again at the next turn; requests meanwhile build their own."""
    while True:
        try:
            await asyncio.to_thread(avail.refresh)
        except Exception:  # noqa: BLE001 - the public page must outlive a bad moment
            log.exception("refreshing the parking availability failed")
        await asyncio.sleep(REFRESH_S)


def _live_routes(app: FastAPI, store: Store, gate: Gate) -> None:
    @app.get("/api/v1/changes", tags=["staff"])
    async def changes(request: Request) -> StreamingResponse:
        """Server-sent events for a logged-in page: `change` each time the store's version
        moves. The page then fetches itself and swaps its `data-live` parts (base.html)."""
        if gate.session(request) is None:
            raise HTTPException(401, "log in first")
        token = request.cookies.get(web_auth.COOKIE)

        async def events() -> AsyncIterator[str]:
            last = None
            while not await request.is_disconnected():
                if await asyncio.to_thread(gate.accounts.session, token, gate.now()) is None:
                    return  # logged out or expired: the stream ends with the session
                now = await asyncio.to_thread(store.version)
                if now != last:
                    if last is not None:
                        yield "event: change\ndata: {}\n\n"
                    last = now
                await asyncio.sleep(STREAM_POLL_S)

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})


def _public_routes(app: FastAPI, store: Store, gate: Gate, avail: Availability) -> None:
    @app.get("/api/v1/parking/spots", tags=["public"])
    def parking_spots(site: str | None = Query(None, description="one site only")
                      ) -> list[dict[str, Any]]:
        """Each sensed bay as a FIWARE ParkingSpot: free, occupied or unknown."""
        return fiware.parking_spots(store.bays(site))

    async def zones_json(site: str | None) -> str:
        """The snapshot's JSON; read from the database (off the event loop) only when the
        background task has not kept it fresh."""
        snap = avail.fresh(site)
        return (snap or await asyncio.to_thread(avail.get, site)).json

    @app.get("/api/v1/parking/zones", tags=["public"],
             responses={200: {"description": "a list of FIWARE OnStreetParking"}})
    async def parking_zones(site: str | None = Query(None, description="one site only",
                                                     pattern=SITE_PATTERN)) -> Response:
        """Each parking zone as a FIWARE OnStreetParking: free, total and taken bays. At
        most a second old: every driver's phone is served the same snapshot
        (availability.py)."""
        return Response(await zones_json(site), media_type="application/json")

    @app.get("/api/v1/parking/stream", tags=["public"])
    async def parking_stream(request: Request, site: str | None = Query(
            None, pattern=SITE_PATTERN)) -> StreamingResponse:
        """Server-sent events: the zones (as /api/v1/parking/zones) now and on each change."""

        async def events() -> AsyncIterator[str]:
            last = None
            while not await request.is_disconnected():
                now = await zones_json(site)
                if now != last:
                    last = now
                    yield f"event: zones\ndata: {now}\n\n"
                await asyncio.sleep(STREAM_POLL_S)

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home(request: Request, site: str | None = None) -> HTMLResponse:
        stream = "/api/v1/parking/stream" + (f"?{urlencode({'site': site})}" if site else "")
        return gate.page(request, "parking.html", {"zones": avail.get(site).zones,
                                                   "stream_url": stream})
