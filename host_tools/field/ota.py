"""Over-the-air app updates, the host's side (docs/field-tools.md, "Updates"): build a release
of a role's app, sign a manifest for each board with that board's update key, serve the files
the boards ask for over MQTT in chunks, and roll out to a site in waves, canary first.

The board's side is firmware/lib/bourg/ota_update.py; both check manifests with the board's
own rules (bourg.ota_manifest), so the host refuses to send what a board would refuse.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from host_tools.build import firmware, fwmodules
from host_tools.field.mqtt_watch import Message, Watcher

_manifest = fwmodules.bourg_module("ota_manifest")
UpdateRefused = _manifest.UpdateRefused
CHUNK = 1024
# what a board's flash holds that is not the app: never part of a release
NOT_APP = ("/config.json", "/secrets.json", "/main.py")
DONE = ("ok", "rolled_back", "refused", "failed", "timeout")


@dataclass(frozen=True)
class Release:
    """One version of a role's app: flash path -> bytes, as `bourg deploy` would install it,
    without the board's own files."""

    role: str
    version: str
    files: dict[str, bytes]

    def entries(self) -> list[list[Any]]:
        return [[p, len(d), hashlib.sha256(d).hexdigest()] for p, d in sorted(self.files.items())]


def build_release(role: str, version: str) -> Release:
    """This checkout's app for `role`, compiled for the chip, stamped with `version`
    (bourg.VERSION on the board). UpdateRefused for what a board would refuse."""
    _manifest.parse_version(version)
    staged = firmware.stage({"role": role}, None, version=version)
    files = {p: firmware.content(v) for p, v in staged.items() if p not in NOT_APP}
    release = Release(role, version, files)
    _manifest.check_files(release.entries())
    return release


def manifest_payload(release: Release, *, site: str, device_id: str, key_hex: str,
                     update_id: str, health_s: int = 300) -> bytes:
    """cmd/update's payload for one board: the tag in hex, then the manifest's JSON."""
    body = json.dumps({"format": _manifest.FORMAT, "site": site, "device": device_id,
                       "role": release.role, "version": release.version, "id": update_id,
                       "health_s": health_s, "files": release.entries()},
                      separators=(",", ":")).encode()
    if len(body) + _manifest.TAG_HEX > _manifest.MAX_PAYLOAD:
        raise UpdateRefused(f"the manifest is {len(body)} bytes: more than a board takes")
    return _manifest.tag(bytes.fromhex(key_hex), body).hex().encode() + body


def new_update_id() -> str:
    return "u" + secrets.token_hex(6)


@dataclass
class BoardUpdate:
    """Where one board is in a rollout; `state` ends in one of DONE."""

    device_id: str
    key_hex: str
    running: str | None = None  # the version its retained info says
    state: str = "waiting"
    detail: str = ""
    fetched: int = 0
    sent_at: float = 0.0

    def row(self) -> dict[str, Any]:
        return {"device": self.device_id, "state": self.state, "running": self.running,
                "fetched": self.fetched, "detail": self.detail}


def waves(boards: list[str], canary: int = 1) -> Iterator[list[str]]:
    """Canary first, then waves that double: 1, 2, 4, ... boards."""
    i, size = 0, max(1, canary)
    while i < len(boards):
        yield boards[i:i + size]
        i += size
        size *= 2


@dataclass
class Rollout:
    """One release to some boards of a site, over a broker the ops account reaches.
    The host answers every board's update/get with the chunk it asks for, from `release`."""

    watcher_factory: Callable[[Callable[[Message], None], tuple[str, ...]], Watcher]
    site: str
    release: Release
    boards: dict[str, BoardUpdate]
    health_s: int = 300
    update_id: str = field(default_factory=new_update_id)
    on_change: Callable[[BoardUpdate], None] | None = None

    def __post_init__(self) -> None:
        self._cond = threading.Condition()
        self._entries = self.release.entries()
        self._data = [self.release.files[e[0]] for e in self._entries]
        self._watcher: Watcher | None = None

    # -- MQTT -------------------------------------------------------------------------------
    def _topic(self, device_id: str, suffix: str) -> str:
        return f"bourg/{self.site}/{device_id}/{suffix}"

    def _on_message(self, m: Message) -> None:
        parts = m.topic.split("/")
        if len(parts) < 4 or parts[1] != self.site or parts[2] not in self.boards:
            return
        b, suffix = self.boards[parts[2]], "/".join(parts[3:])
        try:
            msg = json.loads(m.payload)
        except ValueError:
            return
        if not isinstance(msg, dict):
            return
        if suffix == "update/get":
            self._serve(b, msg)
        elif suffix == "events/update":
            self._outcome(b, msg.get("data") or {})
        elif suffix == "info":
            with self._cond:
                b.running = msg.get("fw") if isinstance(msg.get("fw"), str) else b.running
                self._cond.notify_all()

    def _serve(self, b: BoardUpdate, msg: dict[str, Any]) -> None:
        f, off = msg.get("f"), msg.get("o")
        if (msg.get("id") != self.update_id or not isinstance(f, int) or not isinstance(off, int)
                or not 0 <= f < len(self._data) or not 0 <= off < len(self._data[f])):
            return
        data = self._data[f][off:off + CHUNK]
        header = f"{self.update_id} {f} {off}\n".encode()
        assert self._watcher is not None
        # qos 0 and no wait: this runs in paho's network thread; the board asks again
        self._watcher.client.publish(self._topic(b.device_id, "cmd/chunk"), header + data, qos=0)
        with self._cond:
            if b.state in ("sent", "waiting"):
                self._set(b, "fetching")
            b.fetched += len(data)

    def _outcome(self, b: BoardUpdate, data: dict[str, Any]) -> None:
        outcome, v = data.get("outcome"), self.release.version
        with self._cond:
            if outcome == "staged" and data.get("id") == self.update_id:
                self._set(b, "staged")
            elif outcome == "ok" and data.get("version") == self.release.version:
                b.running = self.release.version
                self._set(b, "ok")
            elif outcome == "rolled_back" and data.get("version") == v:
                b.running = data.get("running")
                self._set(b, "rolled_back", str(data.get("why") or ""))
            elif (outcome == "refused" and b.state == "sent"
                  and str(data.get("error")).endswith(" is not newer than " + v)
                  and str(data.get("error")).startswith("version " + v + " ")):
                b.running = v  # its info came late: it runs this version already
                self._set(b, "ok", "already running it")
            elif outcome in ("refused", "failed") and b.state in ("sent", "fetching"):
                self._set(b, outcome, str(data.get("error") or ""))

    def _set(self, b: BoardUpdate, state: str, detail: str = "") -> None:
        with self._cond:  # an RLock: callers may hold it already
            b.state, b.detail = state, detail
            self._cond.notify_all()
        if self.on_change is not None:
            self.on_change(b)

    # -- the rollout ------------------------------------------------------------------------
    def start(self) -> None:
        topics = tuple(self._topic("+", s) for s in ("update/get", "events/update", "info"))
        self._watcher = self.watcher_factory(self._on_message, topics)
        if not self._watcher.subscribed.wait(10):
            self._watcher.close()
            raise ConnectionError("the broker did not answer (address, account or "
                                  "certificate refused)")

    def close(self) -> None:
        if self._watcher is not None:
            self._watcher.close()

    def send(self, device_id: str) -> None:
        b = self.boards[device_id]
        payload = manifest_payload(self.release, site=self.site, device_id=device_id,
                                   key_hex=b.key_hex, update_id=self.update_id,
                                   health_s=self.health_s)
        with self._cond:
            self._set(b, "sent")
            b.sent_at = time.monotonic()
        assert self._watcher is not None
        self._watcher.publish(self._topic(device_id, "cmd/update"), payload, qos=1)

    def wait(self, device_ids: list[str], timeout_s: float) -> None:
        """Until every board of `device_ids` is done; those still going at the timeout are
        marked timeout."""
        end = time.monotonic() + timeout_s
        with self._cond:
            while True:
                left = [self.boards[d] for d in device_ids if self.boards[d].state not in DONE]
                if not left:
                    return
                remaining = end - time.monotonic()
                if remaining <= 0:
                    for b in left:
                        self._set(b, "timeout", f"still {b.state}")
                    return
                self._cond.wait(remaining)

    def _wait_info(self, device_ids: list[str], timeout_s: float) -> None:
        """The retained info of each board (what it runs) arrives after the subscription:
        wait a little for it, so that a board already on the release is not sent it."""
        end = time.monotonic() + timeout_s
        with self._cond:
            while any(self.boards[d].running is None for d in device_ids):
                remaining = end - time.monotonic()
                if remaining <= 0:
                    return
                self._cond.wait(remaining)

    def run(self, canary: int = 1, wave_timeout_s: float = 900.0) -> bool:
        """Every wave in turn; stops after a wave where a board did not end `ok`. True when
        every board runs the release."""
        order = sorted(self.boards)
        self._wait_info(order, 5.0)
        for wave in waves(order, canary):
            for d in wave:
                if self.boards[d].running == self.release.version:
                    self._set(self.boards[d], "ok", "already running it")
                else:
                    self.send(d)
            self.wait(wave, wave_timeout_s)
            if any(self.boards[d].state != "ok" for d in wave):
                for d in order:
                    if self.boards[d].state == "waiting":
                        self._set(self.boards[d], "waiting", "not sent: an earlier wave failed")
                return False
        return True
