"""Street lights for the console: a pole's row (level, mode, energy, alarms), its charts, and
the two remote settings of docs/lighting.md (pure helpers; web_lights.py serves them).

- **Night profile**: edited as a form, checked on the console by the firmware's own checker
  (profilecheck.validate, the same file the pole runs: the host refuses what the board would)
  and pushed to the chosen poles with `cmd/settings` `{"app": {"profile": ...}}`. An error,
  the console's or a pole's `reply/settings`, is placed next to the field its path names
  (`periods[1].start`).
- **Override** (TALQ's semantics, as the pole implements them): `cmd/override`
  `{"level": 0..100, "duration_s": ...}`; the last one wins, and `{"level": null}` clears it,
  back to the profile. A pole checks it with nightprofile.parse_override; the console too."""

from __future__ import annotations

import math
import re
from typing import Any

from bourg_console.charts import bars
from bourg_console.fiware import iso
from bourg_console.store import Store
from host_tools.lighting.fw import load

PERIOD_FIELDS = ("name", "start", "end", "base", "presence")
_PATH = re.compile(r"(periods\[\d+\]\.\w+|utc_offset_min|dst|periods)\s*:\s*(.*)")


def max_periods() -> int:
    return int(load("nightprofile").MAX_PERIODS)


def poles(store: Store) -> list[dict[str, Any]]:
    return store.boards(role="lighting")


def pole_rows(store: Store) -> list[dict[str, Any]]:
    """Every pole's row. The standing alarms and the poles' states are each read once for
    them all: a town's 3,000 poles must not cost a query each. Every standing alarm: after
    a town-wide power cut there are more than a page of them."""
    standing: dict[str, list[str]] = {}
    for a in store.alarms(standing=True, limit=None):
        standing.setdefault(a["device"], []).append(a["kind"])
    states, energy = store.states("state"), store.states("energy")
    return [pole_row(b, states.get((b["site"], b["device"]), {}),
                     energy.get((b["site"], b["device"]), {}), standing.get(b["device"], []))
            for b in poles(store)]


def one_pole_row(store: Store, device: str) -> dict[str, Any] | None:
    """One pole's row, as pole_rows gives it, without reading every pole's states."""
    b = next((b for b in poles(store) if b["device"] == device), None)
    if b is None:
        return None
    alarms = [a["kind"] for a in store.alarms(standing=True, device=device, limit=None)]
    return pole_row(b, store.state(b["site"], device, "state") or {},
                    store.state(b["site"], device, "energy") or {}, alarms)


def pole_row(b: dict[str, Any], st: dict[str, Any], en: dict[str, Any],
             alarms: list[str]) -> dict[str, Any]:
    """A pole's row from its board, its `state` and `energy`, and its standing alarms."""
    return {"device": b["device"], "site": b["site"], "level": st.get("level"),
            "mode": st.get("mode"), "reason": st.get("reason"), "lux": st.get("lux"),
            "power_w": en.get("power_w"), "wh": en.get("wh"), "burn_h": en.get("burn_h"),
            "detections": en.get("detections"), "alarms": alarms, "online": b["online"],
            "last_seen": iso(b["last_seen"])}


def pole_charts(store: Store, site: str, device: str) -> dict[str, str]:
    nights = store.pole_nights(site, device)
    traffic = [e["data"] for e in store.events(site, device, "traffic", last=24)]
    hours = [t for t in traffic if isinstance(t.get("hour"), int)
             and isinstance(t.get("count"), int)]
    return {
        "energy": bars([n["night"][5:] for n in nights], [n["wh"] for n in nights],
                       unit="Wh", title="energy per night"),
        "traffic": bars([iso(t["hour"])[11:13] + "h" for t in hours],
                        [float(t["count"]) for t in hours], unit="passes",
                        title="traffic per hour"),
    }


def profile_from_form(form: dict[str, str]) -> dict[str, Any]:
    """The profile a form describes: rows with every field blank are left out; numbers are
    taken as numbers where they read as such (the checker says what is wrong otherwise)."""
    periods = []
    for i in range(max_periods()):
        row = {k: form.get(f"p{i}_{k}", "").strip() for k in PERIOD_FIELDS}
        if not any(row.values()):
            continue
        p: dict[str, Any] = {k: v for k, v in row.items() if v != "" or k == "name"}
        if not p["name"]:
            del p["name"]
        for k in ("base", "presence"):
            if k in p:
                p[k] = _number(p[k])
        periods.append(p)
    return {"utc_offset_min": _number(form.get("utc_offset_min", "0").strip() or "0"),
            "dst": form.get("dst", "none"), "periods": periods}


def _number(text: str) -> Any:
    """An int or a finite float as typed, else the text itself (the checker then names the
    field: "nan" and "inf" are not numbers a pole takes)."""
    try:
        return int(text)
    except ValueError:
        try:
            v = float(text)
        except ValueError:
            return text
        return v if math.isfinite(v) else text


def check_profile(profile: dict[str, Any]) -> tuple[str, str] | None:
    """(field, reason) for the first thing the pole would refuse, or None."""
    try:
        load("profilecheck").validate(profile)
    except load("nightprofile").ProfileError as e:
        return field_of(e.path), e.reason
    return None


def field_of(path: str) -> str:
    """The form field a checker path names: periods[1].start -> p1_start."""
    m = re.fullmatch(r"periods\[(\d+)\]\.(\w+)", path)
    return f"p{m.group(1)}_{m.group(2)}" if m else path


def error_field(error: str) -> tuple[str, str]:
    """A pole's settings error (`settings.json: app.profile: periods[0].start: expected`)
    as (field, reason); ("", error) when it names no field of the form."""
    m = _PATH.search(error.split("app.profile:", 1)[-1])
    return (field_of(m.group(1)), m.group(2)) if m else ("", error)


def form_rows(profile: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The profile's periods as form rows, padded with blank ones up to max_periods()."""
    periods = list((profile or {}).get("periods") or [])
    rows = [{k: "" if p.get(k) is None else p.get(k) for k in PERIOD_FIELDS}
            for p in periods if isinstance(p, dict)]
    return rows + [dict.fromkeys(PERIOD_FIELDS, "")
                   for _ in range(max(0, max_periods() - len(rows)))]


def check_override(level: str, minutes: str) -> tuple[dict[str, Any] | None, str]:
    """An override's payload from the form, or (None, reason)."""
    payload: dict[str, Any] = {"level": None}
    if level.strip() != "":
        payload = {"level": _number(level.strip()),
                   "duration_s": _number(minutes.strip() or "60")}
        if isinstance(payload["duration_s"], int | float):
            payload["duration_s"] = payload["duration_s"] * 60
    try:
        load("nightprofile").parse_override(payload, 0)
    except load("nightprofile").ProfileError as e:
        return None, str(e).replace("duration_s", "duration")
    return payload, ""
