"""How much faster than real time each kind of world runs in virtual time (docs/emulator.md,
"Virtual time"): a board that only sleeps, a pole on a real mosquitto, a street of three, a
car park (a totem on mosquitto and three nodes in deep sleep)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from host_tools.emulator import World
from host_tools.field.mosquitto import Mosquitto
from host_tools.testing.rigs import lot, street

SLEEPER = "import time\nwhile True:\n    time.sleep(600)\n"


def _measure(name: str, world: World, virtual_s: float, ready: Callable[[], None],
             boards: int) -> dict[str, Any]:
    """Start the boards (ready), then time `virtual_s` of the world's clock."""
    ready()
    wall0, virt0, skips0 = time.monotonic(), world.clock.now(), world.clock.skips
    blocks0 = sum(b.blocks for b in world.boards.values())
    world.elapse(virtual_s, timeout=virtual_s + 600)
    wall = time.monotonic() - wall0
    virt = world.clock.now() - virt0
    blocks = sum(b.blocks for b in world.boards.values()) - blocks0
    return {"bench": "virtual_time", "world": name, "boards": boards,
            "virtual_s": round(virt, 1), "wall_s": round(wall, 2),
            "ratio": round(virt / wall, 1), "skips": world.clock.skips - skips0,
            "waits_per_board_s": round(blocks / boards / virt, 2),
            "where": "this host, nothing else running"}


def run() -> Iterator[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as d:
        base = Path(d)
        with World(base / "sleeper", clock="virtual") as w:
            b = w.add_board({"device_id": "sleeper", "site": "bench"}, {"main.py": SLEEPER})
            yield _measure("one board that only sleeps", w, 86400, b.start, 1)
        with Mosquitto(base / "mq") as broker:
            for n in (1, 3):
                with street.street_world(base / f"street{n}", clock="virtual") as w:
                    poles = [street.add_pole(w, street.pole_config(
                        f"pole-{i}", i * street.SPACING_M, port=broker.port), broker)
                        for i in range(n)]

                    def up(poles: list[street.Pole] = poles) -> None:
                        for p in poles:
                            p.board.start()
                        for p in poles:
                            p.board.wait_output("mqtt: connected", 60)

                    yield _measure(f"{n} pole(s) on mosquitto", w, 60, up, n)
            with World(base / "lot", access_points={lot.WIFI[0]: lot.WIFI[1]},
                       clock="virtual") as w:
                bays = [lot.add_bay(w, f"ps-{i}", i, f"A0{i}", 3.0 * i, heartbeat_s=60)
                        for i in (1, 2, 3)]
                totem, _ = lot.add_totem(w, bays, {b.bay: "A" for b in bays}, broker,
                                         heartbeat_s=60)

                def lot_up() -> None:
                    totem.start()
                    for b in bays:
                        b.board.start()
                    totem.wait_output("mqtt: connected", 60)

                yield _measure("car park: totem on mosquitto, 3 nodes", w, 120, lot_up, 4)
