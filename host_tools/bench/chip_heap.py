"""Each role's heap on the 32-bit ESP32, estimated from its virtual board (docs/emulator.md).

The virtual board is MicroPython's 64-bit Unix port, where the same objects take about twice
the heap. A board answers `Board.heap_report()` with its heap after a collection and the file
of every loaded module. The estimate splits that heap in three:

- bytecode and strings: the loaded `.mpy` files, copied into the heap as they are, the same
  size on both (this share is taken as the whole file, so the estimate errs high);
- the table of interned names (below);
- objects: the rest, made of 8-byte words and 32-byte GC blocks here and of 4-byte words and
  16-byte blocks on the chip, so half the size there.

The emulator's own modules (`/sim`, machine/network/espnow... which the chip has in C) are
taken out: those imported at boot by the heap the board reported then, those an app imports
later by their import cost measured on a board that had not imported them.

The table of interned names (qstrs) is not halved but modelled. Its pools grow by doubling, so
what the VM's cost depends on every name it holds, the emulator's included: one more name can
double a pool. The VM's pools are taken out of every figure above (micropython.qstr_info), and
the chip's are computed for the names the app and runtime intern there: the VM's names less
the emulator's, in pools of 20, 40, 80... entries of 7 bytes (py/qstr.c, tools/mpy-tool.py).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from host_tools.emulator import Board, World
from host_tools.emulator.waiting import wait_until

OVERLAY_DIR = "/sim/"
# imported by apps after boot, measured in this order (aioespnow on top of espnow)
LATE_OVERLAYS = ("network", "esp32", "espnow", "aioespnow", "neopixel", "ntptime")
GOAL_BYTES = 80 * 1024  # issue 16: at most 80 KB after a day's activity
# a board that only imports asyncio (frozen on the chip and here) and services world events
_IDLE_MAIN = "import asyncio\nimport time\nwhile True:\n    time.sleep_ms(100)\n"


# the chip's qstr pools in RAM (v1.28.0): the first holds twice the frozen pool's `alloc`,
# which tools/mpy-tool.py caps at 10; an entry is a 4-byte pointer, a 2-byte hash
# (MICROPY_QSTR_BYTES_IN_HASH at the ESP32's ROM level) and a 1-byte length; the header,
# qstr_pool_t, is six 4-byte words; the GC allocates 16-byte blocks
QSTR_FIRST_POOL, QSTR_ENTRY_BYTES, QSTR_POOL_HEADER, CHIP_BLOCK = 20, 7, 24, 16


@dataclass(frozen=True)
class ChipHeap:
    """One role's heap: measured here, and estimated on the chip."""

    vm_bytes: int  # the app and runtime on the 64-bit VM: emulator and qstr pools taken out
    mpy_bytes: int  # loaded .mpy files of the app and runtime: bytecode and strings
    object_bytes: int  # the rest: objects, half the size on the chip
    qstr_names: int  # names the app and runtime intern (not in the chip's firmware)
    qstr_pool_bytes: int  # the chip's pools for those names
    chip_bytes: int  # mpy_bytes + object_bytes / 2 + qstr_pool_bytes


@dataclass(frozen=True)
class EmulatorShare:
    """What the emulator's own modules take on the VM, to be left out of an app's figure."""

    # read on the probe after its idle main.py, which adds at most its own file name to what
    # every board's boot interned: one name, which moves a pool only if it lands on a doubling
    boot_names: int  # qstrs interned by the boot (the overlays imported then)
    boot_pool_bytes: int  # the VM's qstr pools after the boot
    late_cost: dict[str, int]  # heap of each overlay an app imports later, its pool growth out
    late_names: dict[str, int]  # qstrs each of those interns


def chip_qstr_pool_bytes(names: int) -> int:
    """The chip's qstr pools holding `names` interned names: py/qstr.c's qstr_add adds a pool
    twice the size of the last when the last is full."""
    total, room, alloc = 0, 0, QSTR_FIRST_POOL
    while room < names:
        total += -(-(QSTR_POOL_HEADER + QSTR_ENTRY_BYTES * alloc) // CHIP_BLOCK) * CHIP_BLOCK
        room += alloc
        alloc *= 2
    return total


def estimate(report: dict[str, Any], boot_used: int, emu: EmulatorShare) -> ChipHeap:
    """The chip's heap for what a board's heap_report shows (see the module docstring);
    `boot_used` is the heap that board reported when it booted."""
    late = [name for name, path, _ in report["modules"]
            if path.startswith(OVERLAY_DIR) and name in emu.late_cost]
    names, pools = report["qstr"][-1]
    vm = ((report["used"] - pools) - (boot_used - emu.boot_pool_bytes)
          - sum(emu.late_cost[name] for name in late))
    mpy = sum(size for _, path, size in report["modules"]
              if path.endswith(".mpy") and not path.startswith(OVERLAY_DIR))
    objects = max(0, vm - mpy)
    app_names = max(0, names - emu.boot_names - sum(emu.late_names[name] for name in late))
    qstr = chip_qstr_pool_bytes(app_names)
    return ChipHeap(vm, mpy, objects, app_names, qstr, mpy + objects // 2 + qstr)


def emulator_share(world: World) -> EmulatorShare:
    """The emulator's share, measured on a board that runs no app: its names and pools after
    boot, then each late overlay's import, its pool growth taken out."""
    cfg = {"schema": 1, "device_id": "heap-probe", "role": "fieldtest", "site": "bench",
           "board": "esp32-devkitc", "pins": {}, "network": {}, "app": {}}
    b = world.add_board(cfg, {"main.py": _IDLE_MAIN})
    b.start()
    b.wait_boot()
    rep = b.heap_report(LATE_OVERLAYS, timeout=20)
    b.stop()
    return share_from_report(rep, LATE_OVERLAYS)


def share_from_report(rep: dict[str, Any], imported: tuple[str, ...]) -> EmulatorShare:
    """The emulator's share from a probe's heap report, whose names table was read before
    each of `imported` and at the end: each import's cost without the pools it grew, and the
    names it interned."""
    steps = rep["qstr"]
    cost, names = {}, {}
    for i, name in enumerate(imported):
        (n0, p0), (n1, p1) = steps[i], steps[i + 1]
        cost[name] = rep["imports"][name] - (p1 - p0)
        names[name] = n1 - n0
    return EmulatorShare(steps[0][0], steps[0][1], cost, names)


def _locker_day(world: World, workdir: Path) -> Board:
    """A bank through three deposits and pickups and six wrong codes."""
    from host_tools.field.registry import Registry
    from host_tools.locker.issue import CodeBook
    from host_tools.testing.rigs.bank import add_bank

    reg = Registry(workdir / "registry.sqlite")
    reg.add("locker-01", "locker", "bench")
    bk = add_bank(world, "locker-01", key=reg.secrets("locker-01")["bank_key"])
    bk.board.start()
    bk.board.wait_output("NTP sync ok", 30)
    book = CodeBook(reg)

    def typed(code: str, expect: str) -> None:
        mark = bk.board.console_mark()
        bk.type(code + "#")
        bk.board.wait_output(expect, 15, start=mark)

    def through_door(n: int) -> None:
        # the bank logs its verdict before it pulses the lock: wait for the pulse
        wait_until(lambda: bk.locks[n].unlocked(), 10, f"compartment {n}'s lock pulse")
        bk.open_door(n)
        world.elapse(1)  # the shop puts the parcel in; the customer takes it out
        bk.close_door(n)
        world.elapse(1)  # the bank sees the door shut before the next code

    for n in (1, 2, 3):
        now = world.clock.time() + bk.board.rtc_offset
        typed(book.issue("locker-01", n, "deposit", now, 1, now_s=now).code, "code: ok")
        through_door(n)
        typed(book.issue("locker-01", n, "pickup", now, 48, now_s=now).code, "code: ok")
        through_door(n)
    for i in range(6):
        typed(f"{i}1234567890{i}", r"code: \w+")
    reg.close()
    return bk.board


def _pole_night(world: World, edges: int = 20) -> Board:
    """A pole through `edges` presence passes, each back to its idle level."""
    from host_tools.testing.rigs.street import add_pole, pole_config, wait_level

    pole = add_pole(world, pole_config("pole-01", 0.0))
    pole.board.start()
    wait_level(pole, lambda v: v == 10, 30)
    for _ in range(edges):
        pole.pir.detect(True)
        wait_level(pole, lambda v: v > 10, 10)
        pole.pir.detect(False)
        wait_level(pole, lambda v: v == 10, 30)
    return pole.board


def _car_park(world: World, cars: int = 4) -> list[tuple[Board, dict[str, Any]]]:
    """A totem and two nodes (one waking on change) through `cars` arrivals and departures,
    each seen on the zone's display; each board with its heap report. A node answers as it
    goes back to sleep, so its question is asked before the last car moves."""
    from host_tools.testing.rigs.lot import add_bay, add_totem

    bays = [add_bay(world, "ps-01", 1, "A01", 0.0),
            add_bay(world, "ps-02", 2, "A02", 3.0, chip="lis")]
    totem, displays = add_totem(world, bays, {"A01": "A", "A02": "A"}, guidance=True)
    for b in [totem] + [bay.board for bay in bays]:
        b.start()
    totem.wait_output("app-ready", 30)
    # a car that comes while a node learns its empty bay after power-on becomes part of its
    # baseline: the first car waits, as in the HIL tests, for the zone shown free and each
    # node asleep once (armed, or between its timed samples)
    wait_until(lambda: displays["A"].text.strip() == str(len(bays))
               and all(bay.board.sleeps >= 1 for bay in bays), 60,
               lambda: f"the car park did not settle: zone A shows {displays['A'].text!r}")
    for i in range(cars):
        for bay in bays:
            if i == cars - 1:
                bay.board.ask_heap_report()
            seen = displays["A"].updates
            bay.park(i % 2 == 0)
            wait_until(lambda seen=seen: displays["A"].updates > seen, 60,
                       f"{bay.bay}: display unchanged")
    nodes = [(bay.board, bay.board.wait_heap_report(60)) for bay in bays]
    return [(totem, totem.heap_report(timeout=20))] + nodes


def boot_share(b: Board) -> int:
    """The heap a board's boot took that is the emulator's: all of it, but asyncio for an app
    that runs it. The virtual board imports asyncio at boot (fw/_boot.py, to keep its task
    queue on the VM's ticks); on the chip it is frozen, but its objects are the app's, for
    every app that runs the runtime: all but the sensor node, which never starts a loop."""
    return b.emulator_heap_at_boot(b.config.get("role") != "parking_sensor")


def _row(b: Board, rep: dict[str, Any], activity: str, emu: EmulatorShare) -> dict[str, Any]:
    h = estimate(rep, boot_share(b), emu)
    return {"bench": "chip_heap_bytes", "role": b.config["role"], "device": b.name,
            "after": activity, "chip_estimate": h.chip_bytes,
            "vm_app_and_runtime": h.vm_bytes, "mpy_loaded": h.mpy_bytes,
            "objects_vm": h.object_bytes, "qstr_names": h.qstr_names,
            "qstr_pools_chip": h.qstr_pool_bytes, "goal_le": GOAL_BYTES,
            "goal_met": h.chip_bytes <= GOAL_BYTES, "vm": "unix 64-bit"}


def run() -> list[dict[str, Any]]:
    """One row per role: the VM's figure and the chip estimate, after the role's activity."""
    from host_tools.testing.rigs.bank import WIFI
    from host_tools.testing.rigs.street import street_world

    rows = []
    with tempfile.TemporaryDirectory() as d:
        with World(Path(d) / "bank", access_points={WIFI[0]: WIFI[1]}) as w:
            w.wall_offset_s = 12 * 3600 - time.time() % 86400  # noon: deposits are open
            emu = emulator_share(w)
            bank = _locker_day(w, Path(d))
            rows.append(_row(bank, bank.heap_report(timeout=20),
                             "3 deposits, 3 pickups, 6 wrong codes", emu))
        with street_world(Path(d) / "street") as w:
            pole = _pole_night(w)
            rows.append(_row(pole, pole.heap_report(timeout=20), "20 presence passes", emu))
        with World(Path(d) / "lot", access_points={WIFI[0]: WIFI[1]}) as w:
            rows += [_row(b, rep, "4 arrivals and departures per bay", emu)
                     for b, rep in _car_park(w)]
    return rows


if __name__ == "__main__":
    import json

    for r in run():
        print(json.dumps(r))
