"""The console against a real mosquitto and a car park of virtual boards (a totem and two
sensor nodes running the firmware): what the totem says reaches the public API, nothing is
lost while the console is down, and garbage from one board never stops the rest."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from bourg_console.ingest import Broker
from bourg_console.service import Console
from host_tools.emulator import World
from host_tools.emulator.waiting import wait_until
from host_tools.field.mosquitto import Mosquitto, free_port
from host_tools.field.mqtt_watch import Watcher
from host_tools.testing.rigs.lot import WIFI, Bay, add_bay, add_totem

pytestmark = pytest.mark.slow
SITE = "hil"  # the lot rig's site


@pytest.fixture
def lot_world(tmp_path: Path) -> Iterator[World]:
    with World(tmp_path / "world", access_points={WIFI[0]: WIFI[1]}, clock="virtual") as w:
        yield w


class Running:
    """A console in this process, served over real HTTP on a free port."""

    def __init__(self, db: Path | str, broker: Mosquitto, **heartbeat: Any) -> None:
        self.port = free_port()
        self.console = Console(str(db), Broker(broker.host, broker.port, broker.ops_user,
                                               broker.ops_password), SITE,
                               port=self.port, **heartbeat).start()
        wait_until(self.console.serving, 20, "the console did not start serving")
        wait_until(lambda: self.console.ingest.stats.connected, 20,
                   "the console did not reach the broker")

    def get(self, path: str) -> Any:
        r = httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=10)
        r.raise_for_status()
        return r.json()

    def zone(self, name: str) -> dict[str, Any]:
        return next((z for z in self.get("/api/v1/parking/zones") if z["name"] == name), {})

    def spot(self, name: str) -> str | None:
        return next((s["status"] for s in self.get("/api/v1/parking/spots")
                     if s["name"] == name), None)

    def stop(self) -> None:
        self.console.stop()


def _lot(world: World, broker: Mosquitto) -> tuple[Bay, Bay, Any]:
    a = add_bay(world, "ps-01", 1, "A01", 0.0, heartbeat_s=10)
    b = add_bay(world, "ps-02", 2, "A02", 3.0, heartbeat_s=10)
    totem, displays = add_totem(world, [a, b], {"A01": "A", "A02": "A"}, broker,
                                heartbeat_s=10)
    for board in (totem, a.board, b.board):
        board.start()
    return a, b, displays["A"]


def test_the_public_api_shows_what_the_totem_shows(db_url: str, lot_world: World,
                                                   mosquitto: Mosquitto) -> None:
    console = Running(db_url, mosquitto)
    try:
        a, b, display = _lot(lot_world, mosquitto)
        wait_until(lambda: console.zone("A").get("availableSpotNumber") == 2, 30,
                   lambda: f"zone A: {console.zone('A')}")
        a.park()
        wait_until(lambda: display.text == "   1", 20, "the totem did not count the car")
        wait_until(lambda: console.zone("A").get("availableSpotNumber") == 1, 10,
                   lambda: f"zone A: {console.zone('A')}")
        z = console.zone("A")
        assert (z["type"], z["totalSpotNumber"], z["occupiedSpotNumber"]) == \
            ("OnStreetParking", 2, 1)
        assert z["id"] == "urn:ngsi-ld:OnStreetParking:hil:A"
        assert console.spot("A01") == "occupied" and console.spot("A02") == "free"
        [totem] = [r for r in console.console.store.boards() if r["device"] == "totem-1"]
        assert (totem["online"], totem["role"], totem["mode"]) == (True, "parking_totem",
                                                                   "normal")
        store = console.console.store
        wait_until(lambda: [(x["bay"], x["departed_at"]) for x in store.sessions(0)] ==
                   [("A01", None)], 10, lambda: f"sessions: {store.sessions(0)}")
        a.park(False)
        wait_until(lambda: store.sessions(0)[0]["departed_at"] is not None, 30,
                   lambda: f"sessions: {store.sessions(0)}")
        assert console.console.ingest.stats.refused == 0
    finally:
        console.stop()


def test_nothing_is_lost_while_the_console_is_down(tmp_path: Path, lot_world: World,
                                                   mosquitto: Mosquitto) -> None:
    """The broker keeps the console's session: the totem's queued events of a car that came
    while the console was stopped reach it when it starts again, and the retained states
    bring the counts up to date."""
    db = tmp_path / "console.sqlite"
    console = Running(db, mosquitto)
    a, b, display = _lot(lot_world, mosquitto)
    try:
        wait_until(lambda: console.zone("A").get("availableSpotNumber") == 2, 30,
                   lambda: f"zone A: {console.zone('A')}")
    finally:
        console.stop()
    b.park()
    wait_until(lambda: display.text == "   1", 20, "the totem did not count the car")
    console = Running(db, mosquitto)
    try:
        wait_until(lambda: console.zone("A").get("availableSpotNumber") == 1, 10,
                   lambda: f"zone A: {console.zone('A')}")
        store = console.console.store
        wait_until(lambda: [e["data"].get("occupied") for e in
                            store.events(SITE, "totem-1", "bay")
                            if e["data"].get("bay") == "A02"] == [False, True], 10,
                   lambda: f"events: {store.events(SITE, 'totem-1', 'bay')}")
    finally:
        console.stop()


def test_garbage_from_one_board_is_counted_and_the_rest_still_heard(
        tmp_path: Path, lot_world: World, mosquitto: Mosquitto) -> None:
    rogue_password = mosquitto.add_device(SITE, "rogue")
    console = Running(tmp_path / "console.sqlite", mosquitto)
    rogue = Watcher(mosquitto.host, mosquitto.port, topics=(f"bourg/{SITE}/rogue/cmd/#",),
                    user="bourg-rogue", password=rogue_password, client_id="rogue")
    try:
        assert rogue.subscribed.wait(10), "the rogue board did not reach the broker"
        for topic, payload in (("events/bay", b"{no json"), ("zone/A", b'{"free": -1}'),
                               ("status", b"\xff" * 10), ("bay/A01", b"[]")):
            rogue.publish(f"bourg/{SITE}/rogue/{topic}", payload, qos=1)
        wait_until(lambda: console.console.store.malformed_count() == 4, 10,
                   lambda: f"refused: {console.console.store.malformed()}")
        a, b, display = _lot(lot_world, mosquitto)
        wait_until(lambda: console.zone("A").get("availableSpotNumber") == 2, 30,
                   lambda: f"zone A: {console.zone('A')}")
        a.park()
        wait_until(lambda: console.spot("A01") == "occupied", 30,
                   lambda: f"spots: {console.get('/api/v1/parking/spots')}")
        assert {m["reason"][:20] for m in console.console.store.malformed()} >= \
            {"payload is not JSON ", "payload is a JSON li"}
    finally:
        rogue.close()
        console.stop()


def test_a_board_that_goes_quiet_is_raised_offline_and_cleared_when_back(
        tmp_path: Path, lot_world: World, mosquitto: Mosquitto) -> None:
    """The console polls every board (cmd/status); the totem's answers fill the fleet page,
    and when its WiFi is cut the polls go unanswered and the offline alarm stands until the
    totem speaks again."""
    console = Running(tmp_path / "console.sqlite", mosquitto, poll_s=1.0, missed=2)
    store = console.console.store

    def offline() -> list[dict[str, Any]]:
        return [a for a in store.alarms(standing=True)
                if (a["device"], a["kind"]) == ("totem-1", "offline")]

    try:
        _, _, display = _lot(lot_world, mosquitto)
        wait_until(lambda: console.zone("A").get("availableSpotNumber") == 2, 30,
                   lambda: f"zone A: {console.zone('A')}")
        wait_until(lambda: isinstance(store.state(SITE, "totem-1", "reply/status"), dict), 20,
                   "the totem never answered the console's status poll")
        assert offline() == []
        totem = lot_world.boards["totem-1"]
        totem.wifi_cut()
        wait_until(lambda: offline() != [], 60, lambda: f"alarms: {store.alarms()}")
        totem.wifi_restore()
        wait_until(lambda: offline() == [], 60, lambda: f"alarms: {store.alarms()}")
        [a] = [a for a in store.alarms() if a["kind"] == "offline"]
        assert a["cleared_at"] > a["raised_at"]
    finally:
        console.stop()
