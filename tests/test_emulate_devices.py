"""`bourg emulate`'s commands on a locker bank: its doors keep to the lock model the HIL tests
use, so a technician trying a config cannot open a compartment the bank never unlocked."""

from __future__ import annotations

import json
from pathlib import Path

from host_tools.emulator import World
from host_tools.emulator.parts import Lock, Switch
from host_tools.testing.rigs import by_role

REPO = Path(__file__).resolve().parent.parent


def test_a_door_opens_only_after_its_lock_pulse_or_by_force(tmp_path: Path) -> None:
    cfg = json.loads((REPO / "board_configs" / "locker-01.json").read_text())
    comps = {c["n"]: c for c in cfg["app"]["compartments"]}
    with World(tmp_path / "w") as world:
        board = world.add_board(cfg, {})  # never started: its devices alone
        rd = by_role.attach(board, cfg)
        locks = {d.gpio: d for d in board.devices if isinstance(d, Lock)}
        doors = {d.gpio: d for d in board.devices if isinstance(d, Switch)}
        door1, door2 = doors[comps[1]["door"]], doors[comps[2]["door"]]

        assert "compartment 1 is locked" in rd.run("door 1 open")
        assert door1.closed, "a refused door stays shut"
        locks[comps[1]["lock"]].on_pin(comps[1]["lock"], 1)  # the bank's unlock pulse
        assert rd.run("door 1 open") == "compartment 1 door open"
        assert not door1.closed
        assert rd.run("door 1 close") == "compartment 1 door close"
        assert door1.closed
        assert "is locked" in rd.run("door 1 open"), "the hook caught the door as it shut"

        assert rd.run("door 2 force") == "compartment 2 door open"  # a crowbar
        assert not door2.closed
        assert "already open" in rd.run("door 2 open")
        assert "no such choice" in rd.run("door 9 open")
        assert "no such choice" in rd.run("door 1 ajar")
