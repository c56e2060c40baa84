"""The console in a real browser (Debian's Chromium, driven by Playwright): a technician logs
in, and the fleet page and the public availability page follow what the boards say without
a reload."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from bourg_console.accounts import Accounts
from bourg_console.db import open_engine
from bourg_console.store import Store
from bourg_console.topics import parse
from bourg_console.web import create_app
from host_tools.emulator.waiting import wait_until
from host_tools.field.mosquitto import free_port

pytestmark = pytest.mark.slow
CHROMIUM = "/usr/bin/chromium"
PW = "correct horse battery"
# as root, and on a machine with no network: no sandbox, no calls home
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


class Served:
    """The console's web app on a free port (uvicorn in a thread) over its own store."""

    def __init__(self, tmp_path: Path) -> None:
        import threading

        import uvicorn

        engine = open_engine(str(tmp_path / "c.sqlite"))
        self.store, self.accounts = Store(engine), Accounts(engine)
        self.accounts.add_user("tom", "technician", PW, 0.0)
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(
            create_app(self.store, self.accounts), host="127.0.0.1", port=self.port,
            log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        wait_until(lambda: self.server.started, 20, "the console did not start")
        self.url = f"http://127.0.0.1:{self.port}"

    def hear(self, topic: str, payload: object, t: float) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.store.apply(parse(topic, data), t)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    s = Served(tmp_path)
    yield s
    s.stop()


@pytest.fixture
def page(tmp_path: Path):  # noqa: ANN201 - playwright's Page
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        pytest.fail("Debian's chromium is not installed: run `make setup`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        ctx = browser.new_context()
        yield ctx.new_page()
        browser.close()


def test_the_fleet_page_follows_the_boards_without_a_reload(served: Served, page) -> None:  # noqa: ANN001
    served.hear("bourg/town/pole-01/status", b"online", 1.0)
    page.goto(served.url + "/fleet")
    assert page.url.endswith("/login?next=%2Ffleet")
    page.fill("input[name=name]", "tom")
    page.fill("input[name=password]", PW)
    page.click("button:has-text('Log in')")
    page.wait_for_url("**/fleet")
    row = page.locator("#fleet tr[data-device=pole-01]")
    assert "online" in row.inner_text()
    page.evaluate("window.stillHere = 'yes'")  # gone if the page were reloaded
    served.hear("bourg/town/pole-01/status", b"offline", 2.0)
    served.hear("bourg/town/locker-01/info", {"role": "locker", "fw": "0.3.0"}, 3.0)
    page.locator("#fleet tr[data-device=locker-01]").wait_for(timeout=15000)
    page.wait_for_function("() => document.querySelector('#fleet tr[data-device=pole-01]')"
                           ".innerText.includes('offline')", timeout=15000)
    assert page.evaluate("window.stillHere") == "yes"


def test_the_public_page_shows_free_spaces_as_they_change(served: Served, page) -> None:  # noqa: ANN001
    served.hear("bourg/town/totem-1/zone/A", {"free": 2, "total": 3, "silent": 0}, 1.0)
    page.goto(served.url + "/")
    cell = page.locator("#zones tbody tr td:nth-child(2)")
    assert cell.inner_text() == "2"
    served.hear("bourg/town/totem-1/zone/A", {"free": 0, "total": 3, "silent": 1}, 2.0)
    page.wait_for_function("() => document.querySelector('#zones tbody tr td:nth-child(2)')"
                           ".innerText === '0'", timeout=15000)
    assert page.locator("#zones tbody tr td:nth-child(2)").get_attribute("class") == "full"
    assert page.locator("text=Staff login").count() == 1  # the public sees no staff page
