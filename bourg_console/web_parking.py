"""Parking for the staff: each bay's state and since when, silent sensors, overstaying
vehicles, occupancy and arrivals by hour over the last day and by day over two weeks,
turnover, and the sessions as CSV. Technicians and operators. (The public sees availability
only: web.py.)

No `from __future__ import annotations`: FastAPI reads these routes' annotations."""

from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, Response

from bourg_console import parking
from bourg_console.accounts import User
from bourg_console.charts import bars
from bourg_console.exports import csv_text
from bourg_console.fiware import iso
from bourg_console.store import Store
from bourg_console.web_auth import Gate

SESSION_FIELDS = ("site", "totem", "zone", "bay", "arrived", "departed", "minutes")


def _duration(s: float) -> str:
    m = int(s // 60)
    return f"{m // 1440}d {m // 60 % 24}h" if m >= 1440 else f"{m // 60}h {m % 60:02d}m"


DAYS = 14  # the daily charts' span


def view(store: Store, max_stay_s: dict[str, float], now: float) -> dict[str, Any]:
    start = now - now % parking.HOUR - 23 * parking.HOUR
    day0 = now - now % 86400 - (DAYS - 1) * 86400
    fortnight = store.sessions(day0)
    sessions = [x for x in fortnight
                if x["departed_at"] is None or x["departed_at"] >= start]
    bays = store.bays()
    open_ = {(x["totem"], x["bay"]): x for x in sessions if x["departed_at"] is None}
    rows = []
    for b in bays:
        ses = open_.get((b.totem, b.bay))
        limit = max_stay_s.get(b.zone)
        over = bool(ses and limit is not None and now - ses["arrived_at"] > limit)
        rows.append({"bay": b.bay, "zone": b.zone, "totem": b.totem,
                     "state": "silent" if b.silent else (
                         "unknown" if b.occupied is None else
                         ("taken" if b.occupied else "free")),
                     "for": _duration(now - (ses["arrived_at"] if ses else b.since)),
                     "battery_mv": b.battery_mv, "health": b.health, "overstay": over})
    labels = [iso(start + h * parking.HOUR)[11:13] + "h" for h in range(24)]
    day_labels = [iso(day0 + d * 86400)[5:10] for d in range(DAYS)]
    return {
        "zones": store.zones(), "bays": rows,
        "overstays": [r for r in rows if r["overstay"]],
        "silent": [r for r in rows if r["state"] == "silent"],
        "occupancy": bars(labels, parking.occupancy_by_hour(sessions, start, 24, now),
                          unit="bays", title="bays taken, by hour"),
        "arrivals": bars(labels, [float(v) for v in parking.arrivals_by_hour(
            sessions, start, 24)], unit="arrivals", title="arrivals, by hour"),
        "turnover": parking.turnover(sessions, start, now, len(bays)),
        "daily": bars(day_labels,
                      parking.occupancy_by_day(fortnight, day0, DAYS, now),
                      unit="bays", title="bays taken, by day (UTC)"),
        "daily_arrivals": bars(day_labels, [float(v) for v in parking.arrivals_by_day(
            fortnight, day0, DAYS)],
                               unit="arrivals", title="arrivals, by day (UTC)"),
        "max_stay_min": {z: round(v / 60) for z, v in sorted(max_stay_s.items())},
    }


def add_routes(app: FastAPI, store: Store, gate: Gate, max_stay_s: dict[str, float]) -> None:
    Staff = Annotated[User, Depends(gate.user("technician"))]

    @app.get("/parking", response_class=HTMLResponse, include_in_schema=False)
    def parking_page(request: Request, user: Staff) -> Response:
        return gate.page(request, "parking_staff.html", view(store, max_stay_s, gate.now()))

    @app.get("/api/v1/parking/sessions.csv", tags=["staff"])
    def sessions_csv(user: Staff, days: int = Query(7, ge=1, le=366)) -> Response:
        """Parking sessions (arrival, departure, minutes) of the last `days` days, as CSV."""
        now = gate.now()
        rows = ([x["site"], x["totem"], x["zone"], x["bay"], iso(x["arrived_at"]),
                 iso(x["departed_at"]) if x["departed_at"] is not None else "",
                 round(((x["departed_at"] if x["departed_at"] is not None else now)
                        - x["arrived_at"]) / 60, 1)]
                for x in store.sessions(now - days * 86400))
        return Response(csv_text(SESSION_FIELDS, rows), media_type="text/csv",
                        headers={"Content-Disposition": "attachment; filename=sessions.csv"})
