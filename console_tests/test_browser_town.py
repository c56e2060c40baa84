"""The console in Debian's Chromium (Playwright) on a small virtual town: a car park (a totem
and two sensor nodes), a street light and a locker bank, all running the firmware on a real
mosquitto. Each role logs in and sees only what it may; a technician watches a bay turn
taken, pushes a night profile the pole refuses on the console and one it applies, and
acknowledges the cabinet-door alarm; a merchant sends a locker code and the SMS is in the
outbox. Screenshots are kept under build/console-screenshots/ (CI artefacts)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from bourg_console.codedesk import CodeDesk
from bourg_console.ingest import Broker
from bourg_console.service import Console
from host_tools.emulator.waiting import wait_until
from host_tools.field.mosquitto import Mosquitto, free_port
from host_tools.field.registry import Registry
from host_tools.testing.rigs.bank import add_bank
from host_tools.testing.rigs.lot import add_bay, add_totem
from host_tools.testing.rigs.street import add_pole, pole_config, street_world, wait_level

from .test_browser import ARGS, CHROMIUM

pytestmark = pytest.mark.slow
PW = "correct horse battery"
SHOTS = Path(__file__).resolve().parents[1] / "build" / "console-screenshots"


@pytest.fixture
def town(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[dict]:
    with street_world(tmp_path / "world", clock="virtual") as w:
        with Registry(tmp_path / "registry.sqlite") as reg:
            reg.add("locker-01", "locker", "hil", compartments=[1, 2, 3])
            key = reg.secrets("locker-01")["bank_key"]
        a = add_bay(w, "ps-01", 1, "A01", 0.0, heartbeat_s=10)
        b = add_bay(w, "ps-02", 2, "A02", 3.0, heartbeat_s=10)
        totem, _ = add_totem(w, [a, b], {"A01": "A", "A02": "A"}, mosquitto, heartbeat_s=10)
        pole = add_pole(w, pole_config("pole-01", 0.0, port=mosquitto.port), mosquitto)
        bank = add_bank(w, "locker-01", mosquitto, key=key)
        sms = tmp_path / "sms.json"
        sms.write_text(json.dumps({"provider": "outbox", "dir": str(tmp_path / "sms")}))
        port = free_port()
        console = Console(str(tmp_path / "c.sqlite"),
                          Broker(mosquitto.host, mosquitto.port, mosquitto.ops_user,
                                 mosquitto.ops_password), "hil", port=port,
                          desk=CodeDesk(tmp_path / "registry.sqlite", sms), now=w.wall_time)
        for name, role, bank_id in (("tom", "technician", None),
                                    ("mia", "merchant", "locker-01"),
                                    ("olga", "operator", None)):
            console.accounts.add_user(name, role, PW, 0.0, bank=bank_id)
        console.start()
        for board in (totem, a.board, b.board, pole.board, bank.board):
            board.start()
        try:
            yield {"url": f"http://127.0.0.1:{port}", "console": console, "a": a,
                   "pole": pole, "outbox": tmp_path / "sms" / "outbox.jsonl"}
        finally:
            console.stop()


@pytest.fixture
def browser():  # noqa: ANN201 - playwright's Browser
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed: run `make setup`")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


def _login(browser, url: str, name: str, password: str = PW):  # noqa: ANN001, ANN202
    page = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
    page.goto(url + "/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("button:has-text('Log in')")
    page.wait_for_url(url + "/")
    return page


def _shot(page, name: str) -> None:  # noqa: ANN001
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_each_role_runs_the_town_from_the_browser(town: dict, browser) -> None:  # noqa: ANN001
    url, console = town["url"], town["console"]
    store = console.store
    wait_until(lambda: len({b["role"] for b in store.boards()}) >= 3, 30,
               lambda: f"boards heard: {store.boards()}")
    wait_until(lambda: [(z.free, z.total) for z in store.zones()] == [(2, 2)], 30,
               lambda: f"zones: {store.zones()}")

    # the technician: the bays, live
    tom = _login(browser, url, "tom")
    assert tom.goto(url + "/lockers").status == 200
    tom.goto(url + "/parking")
    row = tom.locator("#bays tr[data-bay=A01] td:nth-child(3)")
    assert row.inner_text() == "free"
    town["a"].park()
    tom.wait_for_function("() => document.querySelector('#bays tr[data-bay=A01] "
                          "td:nth-child(3)').innerText === 'taken'", timeout=30000)
    _shot(tom, "technician-bays")

    # a profile the pole would refuse is refused on its field; a good one is applied
    wait_level(town["pole"], lambda v: v == 10, 30)
    tom.goto(url + "/lights")
    form = tom.locator("form#profile")
    for field, value in (("p0_name", "night"), ("p0_start", "sunset"), ("p0_end", "25:99"),
                         ("p0_base", "20"), ("p0_presence", "100")):
        form.locator(f"input[name={field}]").fill(value)
    form.locator("button").click()
    tom.wait_for_selector("[data-field=p0_end]")
    assert "expected" in tom.locator("[data-field=p0_end]").inner_text()
    _shot(tom, "technician-profile-refused")
    tom.locator("form#profile input[name=p0_end]").fill("sunrise")
    tom.locator("form#profile button").click()
    tom.wait_for_selector("#results li:has-text('pole-01: ok')")
    wait_level(town["pole"], lambda v: v == 20, 15)
    _shot(tom, "technician-profile-applied")

    # the cabinet door: an alarm, acknowledged in the browser
    town["pole"].door.set(False)
    tom.goto(url + "/alarms")
    tom.wait_for_selector("#standing td:has-text('door_open')", timeout=30000)
    tom.locator("#standing button:has-text('Acknowledge')").first.click()
    tom.wait_for_selector("#standing td:has-text('tom')")
    [a] = [x for x in store.alarms(standing=True) if x["kind"] == "door_open"]
    assert a["acked_by"] == "tom"
    _shot(tom, "technician-alarm-acknowledged")

    # the merchant: its bank only, and a code by SMS
    mia = _login(browser, url, "mia")
    assert mia.goto(url + "/fleet").status == 403
    assert mia.goto(url + "/lights").status == 403
    mia.goto(url + "/lockers")
    mia.fill("input[name=compartment]", "2")
    mia.select_option("select[name=kind]", "pickup")
    mia.fill("input[name=phone]", "+33612345678")
    mia.click("button:has-text('Send the code by SMS')")
    mia.wait_for_selector("#result.ok")
    [sms] = [json.loads(x) for x in town["outbox"].read_text().splitlines()]
    code = re.search(r"(\d{10,})#", sms["text"]).group(1)
    assert sms["to"] == "+33612345678" and code not in mia.content()
    _shot(mia, "merchant-code-sent")

    # the public: availability, and no staff page
    public = browser.new_context().new_page()
    public.goto(url + "/")
    assert public.locator("#zones tbody tr td:nth-child(2)").inner_text() == "1"
    public.goto(url + "/fleet")
    assert public.url.startswith(url + "/login")
    # the operator: the audit of all of it
    olga = _login(browser, url, "olga")
    olga.goto(url + "/audit")
    text = olga.locator("main").inner_text()
    for action in ("command", "alarm_acked", "code_sent", "login"):
        assert action in text, action
    _shot(olga, "operator-audit")
    # the operator adds a colleague, whose password the console makes and shows once
    olga.goto(url + "/accounts")
    olga.fill("#confirm", PW)
    olga.fill("input[name=name]", "sam")
    olga.select_option("select[name=role]", "technician")
    olga.click("button:has-text('Add; the console makes its password')")
    password = olga.locator("#result.ok code").inner_text()
    _shot(olga, "operator-account-added")
    sam = _login(browser, url, "sam", password)
    assert sam.goto(url + "/fleet").status == 200
    assert sam.goto(url + "/accounts").status == 403
    # a pole lit at its fail-safe level while it booted is not a board in safe mode
    assert "safe_mode" not in {x["kind"] for x in store.alarms()}
