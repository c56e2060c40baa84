"""The device registry: one SQLite file a site's technicians keep, holding every board's
identity and its secrets. The file is mode 0600; secrets leave it only for their own board (or
when a technician asks to see them), never in logs.

Secrets per device: the MQTT password (user `bourg-<device_id>`), an ESP-NOW key and, for
lockers, the bank key (>= 128 bits). Per site: the WiFi network and its password.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_PATH = Path("registry") / "bourg-registry.sqlite"
KEY_KINDS = ("mqtt", "espnow", "bank")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sites (
    site TEXT PRIMARY KEY,
    ssid TEXT NOT NULL,
    wifi_password TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS devices (
    device_id TEXT PRIMARY KEY,
    unique_id TEXT UNIQUE,
    role TEXT NOT NULL,
    site TEXT NOT NULL,
    location TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    mqtt_password TEXT NOT NULL,
    espnow_key TEXT NOT NULL,
    bank_key TEXT,
    rotated REAL
);
CREATE TABLE IF NOT EXISTS site_keys (
    site TEXT NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    PRIMARY KEY (site, kind)
);
"""


class RegistryError(ValueError):
    pass


@dataclass
class Device:
    device_id: str
    unique_id: str | None
    role: str
    site: str
    location: str
    created: float

    @property
    def mqtt_user(self) -> str:
        return f"bourg-{self.device_id}"

    def public(self) -> dict[str, Any]:
        return {"device_id": self.device_id, "unique_id": self.unique_id, "role": self.role,
                "site": self.site, "location": self.location, "mqtt_user": self.mqtt_user}


def _key_hex(nbytes: int = 16) -> str:
    return secrets.token_bytes(nbytes).hex()


class Registry:
    def __init__(self, path: str | Path = DEFAULT_PATH) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        old_umask = os.umask(0o077)
        try:
            self.db = sqlite3.connect(self.path)
        finally:
            os.umask(old_umask)
        os.chmod(self.path, 0o600)
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sites ------------------------------------------------------------------------------
    def set_site(self, site: str, ssid: str, wifi_password: str) -> None:
        with self.db:
            self.db.execute("INSERT INTO sites VALUES (?, ?, ?) ON CONFLICT(site) DO UPDATE "
                            "SET ssid=excluded.ssid, wifi_password=excluded.wifi_password",
                            (site, ssid, wifi_password))

    def site(self, site: str) -> tuple[str, str] | None:
        row = self.db.execute("SELECT ssid, wifi_password FROM sites WHERE site=?",
                              (site,)).fetchone()
        return (row[0], row[1]) if row else None

    def site_key(self, site: str, kind: str) -> str:
        """A key shared by a site's boards of one kind, made on first use: "wave" is the
        street lights' radio group key (every pole must check its neighbours' broadcasts)."""
        with self.db:
            self.db.execute("INSERT OR IGNORE INTO site_keys VALUES (?, ?, ?)",
                            (site, kind, _key_hex(16)))
        row = self.db.execute("SELECT key FROM site_keys WHERE site=? AND kind=?",
                              (site, kind)).fetchone()
        return str(row[0])

    # -- devices ----------------------------------------------------------------------------
    def add(self, device_id: str, role: str, site: str, *, unique_id: str | None = None,
            location: str = "") -> Device:
        """Register a board and generate its secrets; refuses a duplicate id or unique_id
        and changes nothing then."""
        if self.get(device_id) is not None:
            raise RegistryError(f"device {device_id!r} is already registered; choose another "
                                "id, or rotate its keys with `bourg provision rotate`")
        if unique_id:
            row = self.db.execute("SELECT device_id FROM devices WHERE unique_id=?",
                                  (unique_id,)).fetchone()
            if row:
                raise RegistryError(f"this board (unique_id {unique_id}) is already registered "
                                    f"as {row[0]!r}")
        with self.db:
            self.db.execute(
                "INSERT INTO devices (device_id, unique_id, role, site, location, created, "
                "mqtt_password, espnow_key, bank_key) VALUES (?,?,?,?,?,?,?,?,?)",
                (device_id, unique_id, role, site, location, time.time(),
                 secrets.token_urlsafe(24), _key_hex(16),
                 _key_hex(32) if role == "locker" else None))
        dev = self.get(device_id)
        assert dev is not None
        return dev

    def get(self, device_id: str) -> Device | None:
        row = self.db.execute("SELECT device_id, unique_id, role, site, location, created "
                              "FROM devices WHERE device_id=?", (device_id,)).fetchone()
        return Device(*row) if row else None

    def list(self, site: str | None = None) -> list[Device]:
        q = "SELECT device_id, unique_id, role, site, location, created FROM devices"
        rows = self.db.execute(q + (" WHERE site=?" if site else "") + " ORDER BY device_id",
                               (site,) if site else ()).fetchall()
        return [Device(*r) for r in rows]

    def secrets(self, device_id: str) -> dict[str, str]:
        """What goes into the board's /secrets.json."""
        row = self.db.execute("SELECT site, mqtt_password, espnow_key, bank_key, role FROM "
                              "devices WHERE device_id=?", (device_id,)).fetchone()
        if row is None:
            raise RegistryError(f"device {device_id!r} is not registered")
        site, mqtt_password, espnow_key, bank_key, role = row
        out = {"mqtt_user": f"bourg-{device_id}", "mqtt_password": mqtt_password,
               "espnow_key": espnow_key}
        wifi = self.site(site)
        if wifi:
            out["wifi_password"] = wifi[1]
        if bank_key:
            out["bank_key"] = bank_key
        if role == "lighting":
            out["wave_key"] = self.site_key(site, "wave")
        if role == "parking_totem":
            # the totem checks each sensor's reports with that sensor's own key
            rows = self.db.execute("SELECT device_id, espnow_key FROM devices WHERE site=? AND "
                                   "role='parking_sensor' ORDER BY device_id",
                                   (site,)).fetchall()
            out["node_keys"] = dict(rows)
        return out

    def rotate(self, device_id: str, kind: str) -> None:
        if self.get(device_id) is None:
            raise RegistryError(f"device {device_id!r} is not registered")
        kinds = KEY_KINDS if kind == "all" else (kind,)
        with self.db:
            for k in kinds:
                if k == "mqtt":
                    self.db.execute("UPDATE devices SET mqtt_password=? WHERE device_id=?",
                                    (secrets.token_urlsafe(24), device_id))
                elif k == "espnow":
                    self.db.execute("UPDATE devices SET espnow_key=? WHERE device_id=?",
                                    (_key_hex(16), device_id))
                elif k == "bank":
                    self.db.execute("UPDATE devices SET bank_key=? WHERE device_id=? AND "
                                    "bank_key IS NOT NULL", (_key_hex(32), device_id))
                else:
                    raise RegistryError(f"unknown key kind {k!r}; one of {KEY_KINDS} or all")
            self.db.execute("UPDATE devices SET rotated=? WHERE device_id=?",
                            (time.time(), device_id))
