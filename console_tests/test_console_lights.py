"""A technician runs a virtual pole (the firmware, a real mosquitto) from the console's
lights page: an override lights it and clearing returns it to its profile; a profile the pole
would refuse is refused on its field before anything is sent; a good one is applied."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from bourg_console.ingest import Broker
from bourg_console.service import Console
from host_tools.emulator import World
from host_tools.emulator.waiting import wait_until
from host_tools.field.mosquitto import Mosquitto, free_port
from host_tools.testing.rigs.street import add_pole, pole_config, street_world, wait_level

pytestmark = pytest.mark.slow
PW = "correct horse battery"


@pytest.fixture
def night(tmp_path: Path) -> Iterator[World]:
    with street_world(tmp_path / "world", clock="virtual") as w:
        yield w


def test_override_and_profile_from_the_lights_page(tmp_path: Path, night: World,
                                                    mosquitto: Mosquitto) -> None:
    pole = add_pole(night, pole_config("pole-01", 0.0, port=mosquitto.port), mosquitto)
    port = free_port()
    console = Console(str(tmp_path / "c.sqlite"), Broker(mosquitto.host, mosquitto.port,
                                                         mosquitto.ops_user,
                                                         mosquitto.ops_password),
                      "hil", port=port)
    console.accounts.add_user("tom", "technician", PW, 0.0)
    console.start()
    http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    try:
        pole.board.start()
        wait_level(pole, lambda v: v == 10, 30)  # the profile's base level at night
        wait_until(lambda: any(b["role"] == "lighting" for b in console.store.boards()), 20,
                   "the console never heard the pole")
        token = re.search(r'name="csrf" value="([^"]+)"', http.get("/login").text).group(1)
        http.post("/login", data={"name": "tom", "password": PW, "csrf": token})
        csrf = re.search(r'name="csrf" value="([^"]+)"', http.get("/lights").text).group(1)

        r = http.post("/lights/override", data={"csrf": csrf, "pole": "pole-01",
                                                "level": "70", "minutes": "30"})
        assert "pole-01: ok" in r.text, r.text[-2000:]
        wait_level(pole, lambda v: v == 70, 10)
        r = http.post("/lights/override", data={"csrf": csrf, "pole": "pole-01", "level": ""})
        assert "pole-01: ok" in r.text
        wait_level(pole, lambda v: v == 10, 10)

        sent = [e for e in console.accounts.audit_log() if e["action"] == "command"]
        bad = {"csrf": csrf, "pole": "pole-01", "utc_offset_min": "60", "dst": "eu",
               "p0_name": "night", "p0_start": "sunset", "p0_end": "25:61", "p0_base": "20",
               "p0_presence": "100"}
        r = http.post("/lights/profile", data=bad)
        assert re.search(r'data-field="p0_end">[^<]*expected', r.text), r.text[-3000:]
        assert [e for e in console.accounts.audit_log() if e["action"] == "command"] == sent
        r = http.post("/lights/profile", data={**bad, "p0_end": "sunrise"})
        assert "pole-01: ok" in r.text, r.text[-2000:]
        wait_level(pole, lambda v: v == 20, 15)  # the new base level, applied live
        rows = http.get("/api/v1/lights").json()
        assert rows[0]["device"] == "pole-01"
    finally:
        http.close()
        console.stop()
