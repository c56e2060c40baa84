"""The device registry: one SQLite file a site's technicians keep, holding every board's
identity and its secrets. The file is mode 0600; secrets leave it only for their own board (or
when a technician asks to see them), never in logs.

Secrets per device: the MQTT password (user `bourg-<device_id>`), an ESP-NOW key, for
lockers the bank key (>= 128 bits), once its site has a CA, a TLS certificate and key, and
for boards on WiFi the key that signs their app updates (derived from the site's).
Per site: the WiFi network and its password, the street lights' radio key, the site's CA, the
site's update key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import sqlite3
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from host_tools.field import site_ca

DEFAULT_PATH = Path("registry") / "bourg-registry.sqlite"
ENV_VAR = "BOURG_REGISTRY"
KEY_KINDS = ("mqtt", "espnow", "bank", "tls")
# a parking sensor speaks ESP-NOW only (its schema's USES_MQTT): a certificate on a node
# left in the street would be one more key to steal
ROLES_WITHOUT_BROKER = ("parking_sensor",)
# bourg-ops is the operators' MQTT user and certificate name (mosquitto.OPS_USER): a board
# registered as "ops" would read everything and send every command
RESERVED_IDS = ("ops",)
UPDATE_KEY_DOMAIN = b"bourg-update-key\n"


def board_update_key(site_key_hex: str, device_id: str) -> str:
    """A board's update key (hex): HMAC of its id under the site's update key. The registry
    keeps the site's only, and a key read out of one board signs updates for that board alone
    (bourg.ota_manifest)."""
    return hmac.new(bytes.fromhex(site_key_hex), UPDATE_KEY_DOMAIN + device_id.encode(),
                    hashlib.sha256).hexdigest()

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
    rotated REAL,
    compartments TEXT
);
CREATE TABLE IF NOT EXISTS revoked_certs (
    site TEXT NOT NULL,
    serial TEXT NOT NULL,
    device_id TEXT NOT NULL,
    revoked REAL NOT NULL,
    PRIMARY KEY (site, serial)
);
CREATE TABLE IF NOT EXISTS site_keys (
    site TEXT NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    PRIMARY KEY (site, kind)
);
"""


class RegistryError(ValueError):
    """A registry check that failed (exit 1), or bad input such as a missing or read-only
    registry (exit_code 2)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def registry_path(given: str | Path | None = None) -> Path:
    """The one rule every command uses to find the registry: --registry, else
    $BOURG_REGISTRY, else registry/bourg-registry.sqlite. A command that found it another way
    would read other secrets than the ones provision just rotated."""
    if given:
        return Path(given)
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else DEFAULT_PATH


def registry_named(given: str | Path | None = None) -> bool:
    """Whether the user named a registry (flag or environment), so a missing one is an error
    rather than "no registry in use"."""
    return bool(given or os.environ.get(ENV_VAR))


def _writable(path: Path) -> bool:
    """A registry the user made read-only (no owner write bit) is refused for writes even
    when running as root, who could write it anyway."""
    st = path.stat()
    return bool(st.st_mode & stat.S_IWUSR) and os.access(path, os.W_OK)


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


def _numbers(numbers: list[int]) -> str:
    """Compartment numbers as the registry keeps them: "1,2,3"."""
    return ",".join(str(n) for n in sorted(numbers))


def _key_hex(nbytes: int = 16) -> str:
    return secrets.token_bytes(nbytes).hex()


class Registry:
    def __init__(self, path: str | Path = DEFAULT_PATH, *, create: bool = True) -> None:
        """Open the registry; a new one is created mode 0600 (create=False refuses instead).
        An existing file's mode is never changed: a read-only one is opened read-only and
        every write is refused with a message."""
        self.path = Path(path)
        try:
            self.db, self.read_only = self._open(create)
            if not self.read_only:
                self.db.executescript(_SCHEMA)
                self._add_missing_columns()
            self.db.execute("SELECT count(*) FROM devices").fetchone()
        except sqlite3.DatabaseError as e:
            raise RegistryError(f"{self.path} is not a bourg registry ({e})", 2) from None
        except OSError as e:
            raise RegistryError(f"cannot open the registry {self.path}: {e.strerror}",
                                2) from None

    def _open(self, create: bool) -> tuple[sqlite3.Connection, bool]:
        if self.path.exists():
            if not _writable(self.path):
                return sqlite3.connect(f"file:{self.path.resolve()}?mode=ro", uri=True), True
            if self.path.is_file() and self.path.stat().st_size == 0:
                # an empty file (touch): becoming a registry, it gets a registry's mode
                os.chmod(self.path, 0o600)
                return sqlite3.connect(self.path), False
            db = sqlite3.connect(self.path)
            if not db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND "
                              "name='devices'").fetchone():
                db.close()  # another program's database: no tables of ours added to it
                raise RegistryError(f"{self.path} is not a bourg registry (no devices "
                                    "table)", 2)
            return db, False
        if not create:
            raise RegistryError(f"no registry at {self.path}", 2)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        old_umask = os.umask(0o077)
        try:
            db = sqlite3.connect(self.path)
            db.execute("PRAGMA user_version").fetchone()
        finally:
            os.umask(old_umask)
        os.chmod(self.path, 0o600)  # the file this call just made; never a user's own
        return db, False

    def _add_missing_columns(self) -> None:
        """A registry made by an older bourg gets the columns added since, empty."""
        have = {r[1] for r in self.db.execute("PRAGMA table_info(devices)")}
        for column in ("compartments", "tls_cert", "tls_key"):
            if column not in have:
                with self.db:
                    self.db.execute(f"ALTER TABLE devices ADD COLUMN {column} TEXT")

    def compartments(self, device_id: str) -> list[int] | None:
        """The bank's compartment numbers, or None when the registry does not know them (a
        bank registered by an older bourg, or a read-only registry of one)."""
        try:
            row = self.db.execute("SELECT compartments FROM devices WHERE device_id=?",
                                  (device_id,)).fetchone()
        except sqlite3.OperationalError:
            return None
        if not row or not row[0]:
            return None
        return [int(n) for n in row[0].split(",")]

    def require_writable(self) -> None:
        """Refuse a change before making it when the user made the registry read-only."""
        if self.read_only:
            mode = stat.S_IMODE(self.path.stat().st_mode)
            raise RegistryError(
                f"the registry {self.path} is read-only (mode {mode:04o}); nothing was "
                f"changed. To change it, make it writable: chmod 600 {self.path}", 2)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sites ------------------------------------------------------------------------------
    def set_site(self, site: str, ssid: str, wifi_password: str) -> None:
        """The site's WiFi, and its CA if it has none yet (boards talk TLS by default)."""
        self.require_writable()
        with self.db:
            self.db.execute("INSERT INTO sites VALUES (?, ?, ?) ON CONFLICT(site) DO UPDATE "
                            "SET ssid=excluded.ssid, wifi_password=excluded.wifi_password",
                            (site, ssid, wifi_password))
        self.make_site_ca(site)

    def site(self, site: str) -> tuple[str, str] | None:
        row = self.db.execute("SELECT ssid, wifi_password FROM sites WHERE site=?",
                              (site,)).fetchone()
        return (row[0], row[1]) if row else None

    def site_key(self, site: str, kind: str) -> str:
        """A key shared by a site's boards of one kind, made on first use: "wave" is the
        street lights' radio group key (every pole must check its neighbours' broadcasts)."""
        q = "SELECT key FROM site_keys WHERE site=? AND kind=?"
        row = self.db.execute(q, (site, kind)).fetchone()
        if row is None:
            self.require_writable()
            with self.db:
                self.db.execute("INSERT OR IGNORE INTO site_keys VALUES (?, ?, ?)",
                                (site, kind, _key_hex(16)))
            row = self.db.execute(q, (site, kind)).fetchone()
        return str(row[0])

    def site_ca(self, site: str) -> site_ca.KeyPair | None:
        """The site's CA (host_tools.field.site_ca), None until `bourg provision site` made
        it."""
        rows = dict(self.db.execute("SELECT kind, key FROM site_keys WHERE site=? AND kind "
                                    "IN ('tls_ca_cert', 'tls_ca_key')", (site,)).fetchall())
        if len(rows) != 2:
            return None
        return site_ca.KeyPair(rows["tls_ca_cert"], rows["tls_ca_key"])

    def make_site_ca(self, site: str) -> tuple[site_ca.KeyPair, bool]:
        """The site's CA, made if it has none; and whether it was made now. A CA is never
        replaced here: every board's certificate hangs on it."""
        ca = self.site_ca(site)
        if ca is not None:
            return ca, False
        self.require_writable()
        ca = site_ca.new_ca(site)
        with self.db:
            self.db.execute("INSERT INTO site_keys VALUES (?, 'tls_ca_cert', ?)",
                            (site, ca.cert_pem))
            self.db.execute("INSERT INTO site_keys VALUES (?, 'tls_ca_key', ?)",
                            (site, ca.key_pem))
        return ca, True

    def _board_tls(self, device_id: str, site: str) -> dict[str, str]:
        """The board's TLS secrets, its certificate issued on first use once the site has a
        CA (as site_key makes a radio key); {} before that."""
        ca = self.site_ca(site)
        dev = self.get(device_id)
        if ca is None or dev is None or dev.role in ROLES_WITHOUT_BROKER:
            return {}
        row = self.db.execute("SELECT tls_cert, tls_key FROM devices WHERE device_id=?",
                              (device_id,)).fetchone()
        if row is None or not row[0]:
            self.require_writable()
            pair = site_ca.issue(ca, f"bourg-{device_id}")
            with self.db:  # only if nobody issued one meanwhile: one certificate per board
                self.db.execute("UPDATE devices SET tls_cert=?, tls_key=? WHERE device_id=? "
                                "AND tls_cert IS NULL", (pair.cert_pem, pair.key_pem, device_id))
            row = self.db.execute("SELECT tls_cert, tls_key FROM devices WHERE device_id=?",
                                  (device_id,)).fetchone()
        pair = site_ca.KeyPair(row[0], row[1])
        return site_ca.board_secrets(ca, pair)

    def revoked_serials(self, site: str) -> list[int]:
        """Serial numbers of the site's certificates replaced by a rotation: the broker's
        CRL (site_ca.revocation_list)."""
        rows = self.db.execute("SELECT serial FROM revoked_certs WHERE site=? ORDER BY serial",
                               (site,)).fetchall()
        return [int(r[0]) for r in rows]

    # -- devices ----------------------------------------------------------------------------
    def add(self, device_id: str, role: str, site: str, *, unique_id: str | None = None,
            location: str = "", compartments: list[int] | None = None) -> Device:
        """Register a board and generate its secrets; refuses a duplicate id or unique_id
        and changes nothing then. A locker bank's `compartments` (its config's numbers) are
        the ones codes may be issued for."""
        if device_id in RESERVED_IDS:
            raise RegistryError(f"device id {device_id!r} is reserved: its MQTT user "
                                f"bourg-{device_id} is the operators' account; choose another")
        if self.get(device_id) is not None:
            raise RegistryError(f"device {device_id!r} is already registered; choose another "
                                "id, or rotate its keys with `bourg provision rotate`")
        if unique_id:
            row = self.db.execute("SELECT device_id FROM devices WHERE unique_id=?",
                                  (unique_id,)).fetchone()
            if row:
                raise RegistryError(f"this board (unique_id {unique_id}) is already registered "
                                    f"as {row[0]!r}")
        self.require_writable()
        with self.db:
            self.db.execute(
                "INSERT INTO devices (device_id, unique_id, role, site, location, created, "
                "mqtt_password, espnow_key, bank_key, compartments) "
                "VALUES (?,?,?,?,?,?,?,?,?,?)",
                (device_id, unique_id, role, site, location, time.time(),
                 secrets.token_urlsafe(24), _key_hex(16),
                 _key_hex(32) if role == "locker" else None,
                 None if compartments is None else _numbers(compartments)))
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

    def bank_key(self, device_id: str) -> str | None:
        """A locker bank's code key alone: what issuing codes needs, read without making
        the keys and certificates secrets() makes on first use (a read-only registry)."""
        row = self.db.execute("SELECT bank_key FROM devices WHERE device_id=?",
                              (device_id,)).fetchone()
        return row[0] if row else None

    def secrets(self, device_id: str) -> dict[str, str]:
        """What goes into the board's /secrets.json."""
        row = self.db.execute("SELECT site, mqtt_password, espnow_key, bank_key, role FROM "
                              "devices WHERE device_id=?", (device_id,)).fetchone()
        if row is None:
            raise RegistryError(f"device {device_id!r} is not registered")
        site, mqtt_password, espnow_key, bank_key, role = row
        out = {"espnow_key": espnow_key}
        if role not in ROLES_WITHOUT_BROKER:
            out.update(mqtt_user=f"bourg-{device_id}", mqtt_password=mqtt_password)
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
        out.update(self._board_tls(device_id, site))
        if role not in ROLES_WITHOUT_BROKER:
            out["update_key"] = self.update_key(site, device_id)
        return out

    def update_key(self, site: str, device_id: str) -> str:
        """The key that signs `device_id`'s app updates (host_tools/field/ota.py)."""
        return board_update_key(self.site_key(site, "update"), device_id)

    def owner_of(self, unique_id: str) -> str | None:
        """The device id registered for this board (by its unique_id), if any."""
        row = self.db.execute("SELECT device_id FROM devices WHERE unique_id=?",
                              (unique_id,)).fetchone()
        return str(row[0]) if row else None

    def rotate(self, device_id: str, kind: str) -> tuple[str, ...]:
        """Replace one kind of key, or every key the board has for "all"; returns the kinds
        replaced. Every check runs before anything is written."""
        dev = self.get(device_id)
        if dev is None:
            raise RegistryError(f"device {device_id!r} is not registered")
        if kind not in (*KEY_KINDS, "all"):
            raise RegistryError(f"unknown key kind {kind!r}; one of {', '.join(KEY_KINDS)} "
                                "or all", 2)
        has_bank = dev.role == "locker"
        if kind == "bank" and not has_bank:
            raise RegistryError(f"{device_id} is a {dev.role} board: only lockers have a bank "
                                "key; nothing was rotated", 2)
        ca = None if dev.role in ROLES_WITHOUT_BROKER else self.site_ca(dev.site)
        if kind == "tls" and ca is None:
            raise RegistryError(f"{device_id} has no TLS certificate (a parking sensor never "
                                "reaches the broker; other boards get one once `bourg "
                                "provision site` has made the site's CA). Nothing was "
                                "rotated", 2)
        kinds = tuple(k for k in KEY_KINDS if (k != "bank" or has_bank)
                      and (k != "tls" or ca is not None)) if kind == "all" else (kind,)
        self.require_writable()
        updates = {"mqtt": ("mqtt_password", lambda: secrets.token_urlsafe(24)),
                   "espnow": ("espnow_key", lambda: _key_hex(16)),
                   "bank": ("bank_key", lambda: _key_hex(32))}
        pair = site_ca.issue(ca, f"bourg-{device_id}") if ca and "tls" in kinds else None
        old_cert = self.db.execute("SELECT tls_cert FROM devices WHERE device_id=?",
                                   (device_id,)).fetchone()[0]
        with self.db:
            for k in kinds:
                if k == "tls":
                    assert pair is not None
                    done = self.db.execute(
                        "UPDATE devices SET tls_cert=?, tls_key=? WHERE device_id=? AND "
                        "tls_cert IS ?", (pair.cert_pem, pair.key_pem, device_id, old_cert))
                    if done.rowcount != 1:  # rolled back with the rest: nothing half-done
                        raise RegistryError(f"{device_id}'s certificate changed while this "
                                            "rotation ran; nothing was rotated, run it again")
                    if old_cert:  # the broker must refuse it from now on (revoked_serials)
                        self.db.execute("INSERT OR IGNORE INTO revoked_certs VALUES "
                                        "(?, ?, ?, ?)", (dev.site, str(site_ca.KeyPair(
                                            old_cert, "").cert().serial_number),
                                            device_id, time.time()))
                    continue
                column, make = updates[k]
                self.db.execute(f"UPDATE devices SET {column}=? WHERE device_id=?",
                                (make(), device_id))
            self.db.execute("UPDATE devices SET rotated=? WHERE device_id=?",
                            (time.time(), device_id))
        return kinds
