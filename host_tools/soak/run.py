"""Play a soak plan (plan.py) on a small town of virtual boards in virtual time, on a real
mosquitto, and check what only a long run shows (docs/soak.md).

The town: two street-light poles, a locker bank with three compartments, and a field-test
board, as the HIL rigs build them. The operator's MQTT client watches everything.

Checks, each a list of what failed (empty: passed):
- `resets`: every board reset only when the plan cut its power (no watchdog reset);
- `heap`: each board's heap in use after a collection, read every virtual hour, grew by at
  most HEAP_GROWTH_BYTES from its second hour to the end;
- `events`: every board's events reached the operator with no gap in their sequence numbers
  (outages included: the boards queue on flash and resend);
- `codes`: every code issued opened its compartment once, and once typed again was refused;
- `energy`: each pole's energy counter never went down (power cuts included).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from host_tools.emulator import Board, World
from host_tools.emulator.waiting import wait_until
from host_tools.field.mosquitto import Mosquitto
from host_tools.field.mqtt_watch import Watcher
from host_tools.field.registry import Registry
from host_tools.locker.issue import CodeBook
from host_tools.soak.plan import Action, make_plan
from host_tools.testing.rigs import bank, street
from host_tools.testing.rigs.by_role import attach_fieldtest

SITE = "hil"
POLES = ["pole-1", "pole-2"]
BANK = "locker-01"
FIELDTEST = "ft-1"
COMPARTMENTS = [c["n"] for c in bank.COMPARTMENTS]
HEAP_GROWTH_BYTES = 4096
BOOT_S = 60.0  # real seconds a board may take to come back and reach its broker


class SoakFailure(RuntimeError):
    """A step of the run could not be played (the town did not do what it must)."""


@dataclass
class Town:
    world: World
    broker: Mosquitto
    ops: Watcher
    registry: Registry
    poles: dict[str, street.Pole]
    bank: bank.Bank
    fieldtest: Board
    cuts: dict[str, int] = field(default_factory=dict)  # power cuts played, per board
    heap: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    codes: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    start: float = 0.0

    @property
    def boards(self) -> dict[str, Board]:
        out = {name: p.board for name, p in self.poles.items()}
        out[BANK] = self.bank.board
        out[FIELDTEST] = self.fieldtest
        return out

    def at(self) -> float:
        """The run's clock: virtual seconds since the town came up."""
        return self.world.clock.now() - self.start


def _fieldtest_config(port: int) -> dict[str, Any]:
    return {"schema": 1, "device_id": FIELDTEST, "role": "fieldtest", "site": SITE,
            "board": "esp32-devkitc", "pins": {"led": 25, "button": 4, "sda": 21, "scl": 22},
            "network": {"ssid": street.WIFI[0],
                        "mqtt": {"host": street.MQTT_HOST, "port": port, "keepalive": 30,
                                 "tls": False}},
            "app": {"tick_ms": 60000, "telemetry_ms": 300000}}


def build(workdir: Path, broker: Mosquitto, world: World, registry: Registry) -> Town:
    from host_tools.build import firmware
    from host_tools.field.mosquitto import device_user

    poles = {name: street.add_pole(world, street.pole_config(name, 30.0 * i, port=broker.port),
                                   broker) for i, name in enumerate(POLES)}
    registry.add(BANK, "locker", SITE)
    bk = bank.add_bank(world, BANK, broker, key=registry.secrets(BANK)["bank_key"])
    cfg = _fieldtest_config(broker.port)
    secrets = {"wifi_password": street.WIFI[1], "mqtt_user": device_user(FIELDTEST),
               "mqtt_password": broker.add_device(SITE, FIELDTEST)}
    ft = world.add_board(cfg, firmware.stage(cfg, secrets))
    attach_fieldtest(ft, cfg)
    ops = Watcher(broker.host, broker.port, user=broker.ops_user, password=broker.ops_password)
    return Town(world, broker, ops, registry, poles, bk, ft)


def bring_up(town: Town) -> None:
    with town.world.hold_clock():
        for b in town.boards.values():
            b.start()
        for b in town.boards.values():
            b.wait_output("mqtt: connected", BOOT_S)
        town.bank.board.wait_output("NTP sync ok", BOOT_S)
        town.ops.subscribed.wait(10)
    town.start = town.world.clock.now()


# -- actions -------------------------------------------------------------------------------

def _bank_now(town: Town) -> float:
    return town.world.clock.time() + town.bank.board.rtc_offset


def _type(town: Town, code: str, expect: str) -> None:
    b = town.bank.board
    mark = b.console_mark()
    town.bank.type(code + "#")
    b.wait_output("code: ", 15, start=mark)
    said = b.console_since(mark).decode(errors="replace")
    if expect not in said:
        raise SoakFailure(f"the bank answered {said.strip()[-120:]!r}, not {expect!r}")


def _through_door(town: Town, n: int, pulses_before: int) -> None:
    bk = town.bank
    wait_until(lambda: bk.pulses(n) > pulses_before, 10, f"compartment {n}'s lock pulse")
    bk.open_door(n)
    town.world.elapse(3)
    bk.close_door(n)


def _parcel(town: Town, a: Action) -> None:
    n = int(a.target)
    now = _bank_now(town)
    hours = 1 if a.kind == "deposit" else 48
    issued = CodeBook(town.registry).issue(BANK, n, a.kind, now, hours, now_s=now)
    rec = {"t": round(town.at()), "kind": a.kind, "compartment": n, "opened": 0,
           "replay_refused": False}
    town.codes.append(rec)
    before = town.bank.pulses(n)
    _type(town, issued.code, "code: ok")
    _through_door(town, n, before)
    rec["opened"] = town.bank.pulses(n) - before
    town.world.elapse(5)
    _type(town, issued.code, "code: ")
    rec["replay_refused"] = town.bank.pulses(n) == before + rec["opened"]


def _walker(town: Town, a: Action) -> None:
    pir = town.poles[a.target].pir
    pir.detect(True)
    town.world.elapse(a.s)
    pir.detect(False)


def _broker_down(town: Town, a: Action) -> None:
    town.broker.kill()
    town.world.elapse(a.s)
    with town.world.hold_clock():  # the operator is back before any board can be
        town.ops.subscribed.clear()
        town.broker.start()
        if not town.ops.subscribed.wait(15):
            raise SoakFailure("the operator's client did not come back to the broker")


def _wifi_down(town: Town, a: Action) -> None:
    b = town.boards[a.target]
    b.wifi_cut()
    town.world.elapse(a.s)
    b.wifi_restore()


def _power_cut(town: Town, a: Action) -> None:
    b = town.boards[a.target]
    b.power_cut()
    town.cuts[a.target] = town.cuts.get(a.target, 0) + 1
    town.world.elapse(a.s)
    with town.world.hold_clock():
        mark = b.console_mark()
        b.start()
        b.wait_output("mqtt: connected", BOOT_S, start=mark)


PLAY: dict[str, Callable[[Town, Action], None]] = {
    "walker": _walker, "deposit": _parcel, "pickup": _parcel, "broker_down": _broker_down,
    "wifi_down": _wifi_down, "power_cut": _power_cut}


# -- the run -------------------------------------------------------------------------------

def _read_heaps(town: Town) -> None:
    for name, b in town.boards.items():
        if b.running:
            rep = b.heap_report(timeout=30)
            town.heap.setdefault(name, []).append((round(town.at()), int(rep["used"])))


def play(town: Town, plan: list[Action], hours: float,
         progress: Callable[[str], None] | None = None) -> None:
    next_heap = 0.0
    for a in [*plan, Action(hours * 3600, "end")]:
        while next_heap <= a.t:
            if next_heap > town.at():
                town.world.elapse(next_heap - town.at(), timeout=3600)
            _read_heaps(town)
            next_heap += 3600
        if a.t > town.at():
            town.world.elapse(a.t - town.at(), timeout=3600)
        if a.kind == "end":
            break
        if progress:
            progress(f"{town.at():9.0f} s  {a.kind} {a.target}")
        try:
            PLAY[a.kind](town, a)
        except (SoakFailure, TimeoutError, AssertionError) as e:
            town.failures.append(f"at {town.at():.0f} s ({a.kind} {a.target}): {e}")


# -- checks --------------------------------------------------------------------------------

def check_resets(town: Town) -> list[str]:
    out = []
    for name, b in town.boards.items():
        want = ["PWRON_RESET"] * (1 + town.cuts.get(name, 0))
        if b.history != want:
            out.append(f"{name}: resets {b.history}, expected {want}")
    return out


def check_heap(town: Town) -> list[str]:
    out = []
    for name, rows in town.heap.items():
        later = [used for t, used in rows if t >= 3600]
        if len(later) >= 2 and max(later[1:]) - later[0] > HEAP_GROWTH_BYTES:
            out.append(f"{name}: heap in use grew from {later[0]} to {max(later[1:])} bytes")
    return out


def check_events(town: Town) -> list[str]:
    out = []
    for name in town.boards:
        seqs = set()
        for m in town.ops.on(""):
            if f"/{name}/events/" in m.topic:
                try:
                    seqs.add(int(json.loads(m.payload)["seq"]))
                except (ValueError, KeyError, TypeError):
                    out.append(f"{name}: an event without a sequence number: {m.payload[:80]!r}")
        if seqs:
            missing = sorted(set(range(min(seqs), max(seqs) + 1)) - seqs)
            if missing:
                out.append(f"{name}: events lost: seq {missing[:10]}"
                           f"{' ...' if len(missing) > 10 else ''}")
    return out


def check_codes(town: Town) -> list[str]:
    return [f"{c['kind']} code for compartment {c['compartment']} at {c['t']} s: opened "
            f"{c['opened']} times, replay refused: {c['replay_refused']}"
            for c in town.codes if c["opened"] != 1 or not c["replay_refused"]]


def check_energy(town: Town) -> list[str]:
    out = []
    for name in town.poles:
        wh = []
        for m in town.ops.on(f"/{name}/energy"):
            try:
                wh.append(float(json.loads(m.payload)["wh"]))
            except (ValueError, KeyError, TypeError):
                continue
        drops = [(a, b) for a, b in zip(wh, wh[1:], strict=False) if b < a]
        if drops:
            out.append(f"{name}: energy went down {len(drops)} times, first {drops[0]}")
        if not wh:
            out.append(f"{name}: no energy report")
    return out


def run(workdir: Path, hours: float, seed: int,
        progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The whole soak; returns its JSON summary (`passed` says whether every check held)."""
    wall0 = time.monotonic()
    with Mosquitto(workdir / "mosquitto") as broker, \
            Registry(workdir / "registry.sqlite") as registry, \
            World(workdir / "world", access_points={street.WIFI[0]: street.WIFI[1]},
                  clock="virtual") as world:
        world.wall_offset_s = street.night_offset(20.0)
        town = build(workdir, broker, world, registry)
        try:
            bring_up(town)
            plan = make_plan(hours, seed, POLES, COMPARTMENTS, list(town.boards))
            play(town, plan, hours, progress)
            town.world.elapse(120)  # the last events reach the operator
            checks = {"resets": check_resets(town), "heap": check_heap(town),
                      "events": check_events(town), "codes": check_codes(town),
                      "energy": check_energy(town), "steps": town.failures}
        finally:
            town.ops.close()
        virtual_s = town.at()
    wall = time.monotonic() - wall0
    return {"soak": "town", "seed": seed, "hours": hours, "virtual_s": round(virtual_s),
            "wall_s": round(wall, 1), "ratio": round(virtual_s / wall, 1),
            "boards": len(town.boards), "actions": len(plan),
            "codes": len(town.codes), "power_cuts": sum(town.cuts.values()),
            "heap_used": {k: [u for _, u in v] for k, v in town.heap.items()},
            "passed": not any(checks.values()), "checks": checks}
