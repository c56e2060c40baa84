"""Parking availability in FIWARE's smart data models (dataModel.Parking), key-value form:
an `OnStreetParking` per zone and a `ParkingSpot` per bay, so a city app or an open-data
portal reads the public API as it is. Pure: store rows in, dicts out.

A zone served by several totems is one OnStreetParking: their counts add up. A silent bay
(its node unheard) or one not heard yet is `unknown`, never `free`, as on the totem's
display; `occupiedSpotNumber` counts only bays known taken."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bourg_console.store import Bay, Zone


def iso(t: float) -> str:
    """A time as ISO 8601 UTC; "" for one no calendar holds (a board's garbage)."""
    try:
        return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds").replace(
            "+00:00", "Z")
    except (OverflowError, OSError, ValueError):
        return ""


def zone_id(site: str, zone: str) -> str:
    return f"urn:ngsi-ld:OnStreetParking:{site}:{zone}"


def spot_id(site: str, bay: str) -> str:
    return f"urn:ngsi-ld:ParkingSpot:{site}:{bay}"


def on_street_parking(zones: list[Zone], bays: list[Bay]) -> list[dict[str, Any]]:
    """One OnStreetParking per (site, zone), its totems' counts summed."""
    by_zone: dict[tuple[str, str], list[Zone]] = {}
    for z in zones:
        by_zone.setdefault((z.site, z.zone), []).append(z)
    out = []
    for (site, zone), parts in sorted(by_zone.items()):
        out.append({
            "id": zone_id(site, zone),
            "type": "OnStreetParking",
            "name": zone,
            "availableSpotNumber": sum(z.free for z in parts),
            "totalSpotNumber": sum(z.total for z in parts),
            "occupiedSpotNumber": sum(z.occupied for z in parts),
            "unknownSpotNumber": sum(z.silent for z in parts),
            "occupancyDetectionType": ["singleSpaceDetection"],
            "refParkingSpot": [spot_id(b.site, b.bay) for b in bays
                               if (b.site, b.zone) == (site, zone)],
            "observationDateTime": iso(max(z.updated_at for z in parts)),
        })
    return out


def spot_status(b: Bay) -> str:
    if b.silent or b.occupied is None:
        return "unknown"
    return "occupied" if b.occupied else "free"


def parking_spots(bays: list[Bay]) -> list[dict[str, Any]]:
    return [{"id": spot_id(b.site, b.bay), "type": "ParkingSpot", "name": b.bay,
             "status": spot_status(b), "refParkingSite": zone_id(b.site, b.zone),
             "observationDateTime": iso(b.updated_at)} for b in bays]
