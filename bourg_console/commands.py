"""Commands from the console to a board: `cmd/<name>` out, `reply/<name>` back.

A command is published QoS 1 by the ingest's client (the ops account may write
`bourg/+/+/cmd/#`), audited with who sent what to whom, and its reply awaited in the store:
the first `reply/<name>` from that board received after the command left. Commands to one
board go one at a time. A board's reply carries no request id (docs/runtime.md), so a reply
to an earlier command that came later than its wait could be taken for the next one's; a
board that is offline drops the command (it connects with a clean session), so the lights
page sends none to a pole whose last word was `offline`."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt

from bourg_console.accounts import Accounts
from bourg_console.store import Store

REPLY_POLL_S = 0.05


class Commander:
    def __init__(self, store: Store, accounts: Accounts, client: mqtt.Client, site: str,
                 now: Callable[[], float] = time.time) -> None:
        self.store, self.accounts, self.client, self.site = store, accounts, client, site
        self.now = now
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, device: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(device, threading.Lock())

    def call(self, actor: str, device: str, name: str, payload: dict[str, Any],
             timeout_s: float = 10.0) -> dict[str, Any] | None:
        """Send `cmd/<name>` to `device` and return its reply, or None if none came within
        `timeout_s`: the board may be busy, or off the network, which drops the command."""
        with self._lock(device):
            sent = self.now()
            self.accounts.audit(sent, actor, "command", f"{device} cmd/{name}",
                                {"payload": payload})
            self.client.publish(f"bourg/{self.site}/{device}/cmd/{name}",
                                json.dumps(payload).encode(), qos=1)
            end = time.monotonic() + timeout_s
            while time.monotonic() < end:
                got = self.store.state_since(self.site, device, "reply/" + name, sent)
                if got is not None:
                    return got
                time.sleep(REPLY_POLL_S)
            return None
