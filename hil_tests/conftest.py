"""HIL test options and fixtures, in the manner of pytest-embedded.

    pytest hil_tests                       # virtual boards (default)
    pytest hil_tests --port /dev/ttyUSB0   # one real board over USB serial

Tests marked `emulator_only` need fault injection only the emulator can do (power cuts, WDT
starvation, link cuts); on a real board they are skipped.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

from host_tools.emulator import World
from host_tools.field.mosquitto import Mosquitto
from host_tools.field.mqtt_watch import Watcher
from host_tools.field.serialboard import SerialBoard

REPO = Path(__file__).resolve().parents[1]
pytest_plugins = ["host_tools.testing.plugin"]
# fixtures that build virtual boards of their own: tests using them have nothing to run on
# the board given by --port
WORLD_FIXTURES = {"world", "vworld", "street_w", "lot_world", "locker_world"}


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("bourg")
    g.addoption("--board", default=os.environ.get("BOURG_HIL_BOARD", "emulator"),
                choices=["emulator", "serial"], help="where HIL tests run (default: emulator)")
    g.addoption("--port", default=os.environ.get("BOURG_HIL_PORT"),
                help="serial port of a real board (implies --board serial)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "emulator_only: needs fault injection only the "
                            "emulator can do")
    if config.getoption("--port"):
        config.option.board = "serial"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--board") == "emulator":
        return
    fault = pytest.mark.skip(reason="needs the emulator's fault injection (--board emulator)")
    own = pytest.mark.skip(reason="builds its own virtual boards (--board emulator)")
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "emulator_only" in item.keywords:
            item.add_marker(fault)
        elif WORLD_FIXTURES & set(fixtures) and "target" not in fixtures:
            # Nothing here runs on the board given by --port.
            item.add_marker(own)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with World(tmp_path / "world", access_points={"bourg-test": "test-wifi-pass"}) as w:
        yield w


@pytest.fixture
def vworld(tmp_path: Path) -> Iterator[World]:
    """`world` in virtual time (docs/emulator.md): a test's waits for the boards' timers
    take no real time."""
    with World(tmp_path / "world", access_points={"bourg-test": "test-wifi-pass"},
               clock="virtual") as w:
        yield w


@pytest.fixture
def ops(mosquitto: Mosquitto) -> Iterator[Watcher]:
    """The operations user watching everything on the test broker."""
    w = Watcher(mosquitto.host, mosquitto.port, user=mosquitto.ops_user,
                password=mosquitto.ops_password)
    yield w
    w.close()


@pytest.fixture
def target(request: pytest.FixtureRequest, world: World) -> Iterator[SerialBoard]:
    """A board reached over its serial port: the given --port, or a fresh virtual board."""
    port = request.config.getoption("--port")
    if port:
        sb = SerialBoard(port)
    else:
        b = world.add_board({"device_id": "hil-target", "site": "hil"}, {})
        b.start()
        b.wait_boot()
        sb = SerialBoard(b.pty_path)
    try:
        yield sb
    finally:
        sb.close()
