"""A merchant's code from the console opens a virtual locker bank running the firmware: sent
by SMS, typed on the keypad, the lock pulses, and the bank's audit reaches the console."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from bourg_console.codedesk import CodeDesk
from bourg_console.ingest import Broker
from bourg_console.service import Console
from host_tools.emulator import World
from host_tools.emulator.waiting import wait_until
from host_tools.field.mosquitto import Mosquitto, free_port
from host_tools.field.registry import Registry
from host_tools.testing.rigs.bank import WIFI, Bank, add_bank

pytestmark = pytest.mark.slow
PW = "correct horse battery"


@pytest.fixture
def locker_world(tmp_path: Path) -> Iterator[World]:
    """Noon UTC in the town, whatever the host's clock (a deposit window ends at 00:00)."""
    with World(tmp_path / "world", access_points={WIFI[0]: WIFI[1]}, clock="virtual") as w:
        w.wall_offset_s = 12 * 3600 - time.time() % 86400
        yield w


def _now(bk: Bank) -> float:
    return bk.board.world.clock.time() + bk.board.rtc_offset


def test_a_code_sent_from_the_console_opens_the_bank_once(tmp_path: Path, locker_world: World,
                                                          mosquitto: Mosquitto) -> None:
    with Registry(tmp_path / "registry.sqlite") as reg:
        reg.add("locker-01", "locker", "hil", compartments=[1, 2, 3])
        key = reg.secrets("locker-01")["bank_key"]
    sms = tmp_path / "sms.json"
    sms.write_text(json.dumps({"provider": "outbox", "dir": str(tmp_path / "sms")}))
    bk = add_bank(locker_world, "locker-01", mosquitto, key=key)
    port = free_port()
    console = Console(str(tmp_path / "console.sqlite"),
                      Broker(mosquitto.host, mosquitto.port, mosquitto.ops_user,
                             mosquitto.ops_password), "hil", port=port,
                      desk=CodeDesk(tmp_path / "registry.sqlite", sms),
                      now=lambda: _now(bk))
    console.accounts.add_user("mia", "merchant", PW, 0.0, bank="locker-01")
    console.start()
    http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
    try:
        bk.board.start()
        bk.board.wait_output("NTP sync ok", 15)
        wait_until(lambda: abs(_now(bk) - locker_world.wall_time()) < 5, 5,
                   "the bank did not take the town's time")
        wait_until(lambda: any(b["device"] == "locker-01" and b["role"] == "locker"
                               for b in console.store.boards()), 20,
                   "the console never heard the bank")
        token = re.search(r'name="csrf" value="([^"]+)"', http.get("/login").text).group(1)
        http.post("/login", data={"name": "mia", "password": PW, "csrf": token})
        csrf = re.search(r'name="csrf" value="([^"]+)"', http.get("/").text).group(1)
        r = http.post("/api/v1/lockers/locker-01/codes", headers={"X-CSRF-Token": csrf},
                      json={"compartment": 1, "kind": "deposit", "phone": "+33612345678",
                            "lang": "en", "hours": 1})
        assert r.status_code == 200, r.text
        [msg] = [json.loads(x) for x in (tmp_path / "sms" / "outbox.jsonl").read_text()
                 .splitlines()]
        code = re.search(r"(\d{10,})#", msg["text"]).group(1)

        mark = bk.board.console_mark()
        bk.type(code + "#")
        bk.board.wait_output("code: ok", 15, start=mark)
        wait_until(lambda: bk.locks[1].unlocked(), 10, "compartment 1's lock never pulsed")
        bk.open_door(1)
        locker_world.elapse(1)
        bk.close_door(1)
        mark = bk.board.console_mark()
        bk.type(code + "#")
        bk.board.wait_output("code: used", 15, start=mark)

        def audited() -> list[str]:
            [bank] = http.get("/api/v1/lockers").json()
            return [e.get("ev") for e in bank["audit"]]

        wait_until(lambda: {"unlock", "opened"} <= set(audited()), 30,
                   lambda: f"the console's audit of the bank: {audited()}")
    finally:
        http.close()
        console.stop()


def test_the_bank_s_cold_chain_reaches_the_console_as_a_chart(
        tmp_path: Path, locker_world: World, mosquitto: Mosquitto) -> None:
    """The virtual bank's fridge warms past its limit: the bank's next `temps` carries the
    period's highest reading, and the lockers page draws it red against the limit line."""
    bk = add_bank(locker_world, "locker-01", mosquitto, temps_every_s=60)
    assert bk.fridge is not None
    port = free_port()
    console = Console(str(tmp_path / "console.sqlite"),
                      Broker(mosquitto.host, mosquitto.port, mosquitto.ops_user,
                             mosquitto.ops_password), "hil", port=port, now=lambda: _now(bk))
    console.accounts.add_user("tom", "technician", PW, 0.0)
    console.start()
    http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
    try:
        bk.board.start()
        bk.board.wait_output("app-ready", 30)

        def series() -> list[dict[str, object]]:
            return console.store.temperatures("hil", "locker-01", 0.0)

        locker_world.elapse(61)
        wait_until(lambda: series(), 30, "the bank's first temps never reached the console")
        bk.fridge.celsius = 11.0  # the door seal gives; the limit is 8 °C
        locker_world.elapse(61)
        wait_until(lambda: any(r["max_c"] == 11.0 for r in series()), 30,
                   lambda: f"no period saw the fridge at 11 °C: {series()}")
        first = series()[0]
        assert (first["compartment"], first["min_c"], first["limit_c"]) == (2, 4.0, 8.0)
        token = re.search(r'name="csrf" value="([^"]+)"', http.get("/login").text).group(1)
        http.post("/login", data={"name": "tom", "password": PW, "csrf": token})
        page = http.get("/lockers").text
        assert "compartment 2, last 24 h" in page and 'fill="#b03030"' in page
        [bank] = http.get("/api/v1/lockers").json()
        assert any(r["max_c"] == 11.0 for r in bank["temperatures"])
    finally:
        http.close()
        console.stop()
