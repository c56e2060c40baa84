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
- `energy`: each pole's energy counter never went down (power cuts included);
- `clock`: each board's clock, once set, read every virtual hour, within CLOCK_ERROR_S of
  the town's (the plan's lying NTP answer was not believed);
- `schedule`: each pole's lamp, read every virtual hour at rest, at its night profile's level
  by the tz database, across the summer-time change the run starts the eve of (night.py).
"""

from __future__ import annotations

import json
import re
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
from host_tools.locker.issue import CodeBook, IssueError
from host_tools.soak import night
from host_tools.soak.plan import Action, make_plan
from host_tools.testing.rigs import bank, street
from host_tools.testing.rigs.by_role import attach_fieldtest

SITE = "hil"
POLES = ["pole-1", "pole-2"]
BANK = "locker-01"
FIELDTEST = "ft-1"
COMPARTMENTS = [c["n"] for c in bank.COMPARTMENTS]
HEAP_GROWTH_BYTES = 4096
CLOCK_ERROR_S = 120
CLOCK_SET_S = 600  # a board's clock is set this long after it was switched on
REST_S = 60  # a pole's lamp is at its profile's level this long after a walker or a boot
MIN_SET_S = 1704067200  # a board clock before 2024 is not set (power on: 2000-01-01)
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
    bank: bank.Bank | None
    fieldtest: Board | None
    cuts: dict[str, int] = field(default_factory=dict)  # power cuts played, per board
    heap: dict[str, list[tuple[float, int, int]]] = field(default_factory=dict)  # t, used, cuts
    # t, error s (None: not set)
    clock_errors: dict[str, list[tuple[float, int | None]]] = field(default_factory=dict)
    levels: dict[str, list[tuple[float, float, float]]] = field(default_factory=dict)
    busy_until: dict[str, float] = field(default_factory=dict)  # a pole seen or switched on
    powered_at: dict[str, float] = field(default_factory=dict)  # after a power cut
    codes: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    start: float = 0.0

    @property
    def boards(self) -> dict[str, Board]:
        out = {name: p.board for name, p in self.poles.items()}
        if self.bank is not None:
            out[BANK] = self.bank.board
        if self.fieldtest is not None:
            out[FIELDTEST] = self.fieldtest
        return out

    @property
    def locker(self) -> bank.Bank:
        if self.bank is None:
            raise SoakFailure("this town has no locker bank")
        return self.bank

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


def build(broker: Mosquitto, world: World, registry: Registry,
          only: list[str] | None = None) -> Town:
    """The whole town, or only the boards named in `only` (a quicker run of fewer boards)."""
    from host_tools.build import firmware
    from host_tools.field.mosquitto import device_user

    def wanted(name: str) -> bool:
        return only is None or name in only

    world.dns[street.MQTT_HOST] = broker.host

    poles = {name: street.add_pole(world, street.pole_config(name, 30.0 * i, port=broker.port,
                                                          profile=night.PROFILE),
                                   broker) for i, name in enumerate(POLES) if wanted(name)}
    bk = ft = None
    if wanted(BANK):
        registry.add(BANK, "locker", SITE)
        bk = bank.add_bank(world, BANK, broker, key=registry.secrets(BANK)["bank_key"])
    if wanted(FIELDTEST):
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
        if town.bank is not None:
            town.bank.board.wait_output("NTP sync ok", BOOT_S)
        town.ops.subscribed.wait(10)
    town.start = town.world.clock.now()


# -- actions -------------------------------------------------------------------------------

def _bank_now(town: Town) -> float:
    return town.world.clock.time() + town.locker.board.rtc_offset


def _type(town: Town, code: str) -> str:
    """Type a code and '#'; the bank's verdict (ok, used, malformed...), once the lock has had
    time to answer it (the bank logs its verdict before it pulses the lock)."""
    b = town.locker.board
    mark = b.console_mark()
    town.locker.type(code + "#")
    b.wait_output(r"code: [a-z_]+", 15, start=mark)
    m = re.search(r"code: ([a-z_]+)", b.console_since(mark).decode(errors="replace"))
    town.world.elapse(2)
    return m.group(1) if m else "?"


def _through_door(town: Town, n: int, pulses_before: int) -> None:
    bk = town.locker
    wait_until(lambda: bk.pulses(n) > pulses_before, 10, f"compartment {n}'s lock pulse")
    bk.open_door(n)
    town.world.elapse(3)
    bk.close_door(n)


def _parcel(town: Town, a: Action) -> None:
    n = int(a.target)
    book = CodeBook(town.registry)
    now = _bank_now(town)
    if a.kind == "deposit" and book.hours_left("deposit", now) < 0.1:
        # a deposit window ends at 00:00 UTC: the shop waits for the new day's
        town.world.elapse(book.hours_left("deposit", now) * 3600 + 60)
        now = _bank_now(town)
    hours = min(1.0, book.hours_left("deposit", now)) if a.kind == "deposit" else 48
    issued = book.issue(BANK, n, a.kind, now, hours, now_s=now)
    rec = {"t": round(town.at()), "kind": a.kind, "compartment": n, "opened": 0,
           "replay_refused": False}
    town.codes.append(rec)
    before = town.locker.pulses(n)
    verdict = _type(town, issued.code)
    if verdict != "ok":
        raise SoakFailure(f"the bank answered {verdict!r} to a fresh {a.kind} code")
    _through_door(town, n, before)
    rec["opened"] = town.locker.pulses(n) - before
    town.world.elapse(5)
    again = _type(town, issued.code)
    rec["replay_refused"] = (again != "ok" and
                             town.locker.pulses(n) == before + rec["opened"])


def _walker(town: Town, a: Action) -> None:
    pir = town.poles[a.target].pir
    pir.detect(True)
    town.world.elapse(a.s)
    pir.detect(False)
    for name in town.poles:  # its neighbours lit ahead of the walker too
        town.busy_until[name] = town.at() + REST_S


def _ntp_lie(town: Town, a: Action) -> None:
    town.world.ntp_lies(a.s)


def _broker_down(town: Town, a: Action) -> None:
    town.broker.kill()
    town.world.elapse(a.s)
    # the operator is back before any board can be: the broker keeps no session, and an
    # event a board sent before the operator subscribed again would never reach it
    for b in town.boards.values():
        b.link.cut()
    try:
        town.ops.subscribed.clear()
        town.broker.start()
        if not town.ops.subscribed.wait(15):
            raise SoakFailure("the operator's client did not come back to the broker")
    finally:
        for b in town.boards.values():
            b.link.restore()


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
    town.busy_until[a.target] = town.at() + REST_S
    town.powered_at[a.target] = town.at()


PLAY: dict[str, Callable[[Town, Action], None]] = {
    "walker": _walker, "deposit": _parcel, "pickup": _parcel, "broker_down": _broker_down,
    "wifi_down": _wifi_down, "power_cut": _power_cut, "ntp_lie": _ntp_lie}


# -- the run -------------------------------------------------------------------------------

def _read_hourly(town: Town) -> None:
    """Each running board's heap and clock, and each pole's lamp at rest."""
    for name, b in town.boards.items():
        if b.running:
            rep = b.heap_report(timeout=30)
            town.heap.setdefault(name, []).append(
                (round(town.at()), int(rep["used"]), town.cuts.get(name, 0)))
            board_s = town.world.clock.time() + b.rtc_offset
            if board_s < MIN_SET_S and town.at() - town.powered_at.get(name, 0) >= CLOCK_SET_S:
                town.clock_errors.setdefault(name, []).append((round(town.at()), None))
            if board_s >= MIN_SET_S:
                town.clock_errors.setdefault(name, []).append(
                    (round(town.at()), round(board_s - town.world.wall_time())))
                if name in town.poles and town.at() >= town.busy_until.get(name, REST_S):
                    town.levels.setdefault(name, []).append(
                        (town.at(), town.world.wall_time(), town.poles[name].level))


def play(town: Town, plan: list[Action], hours: float,
         progress: Callable[[str], None] | None = None) -> None:
    next_heap = 0.0
    for a in [*plan, Action(hours * 3600, "end")]:
        while next_heap <= a.t:
            if next_heap > town.at():
                town.world.elapse(next_heap - town.at(), timeout=3600)
            _read_hourly(town)
            next_heap += 3600
        if a.t > town.at():
            town.world.elapse(a.t - town.at(), timeout=3600)
        if a.kind == "end":
            break
        if progress:
            progress(f"{town.at():9.0f} s  {a.kind} {a.target}")
        try:
            PLAY[a.kind](town, a)
        except (SoakFailure, TimeoutError, AssertionError, IssueError) as e:
            town.failures.append(f"at {town.at():.0f} s ({a.kind} {a.target}): {e}")


# -- checks --------------------------------------------------------------------------------

def check_resets(town: Town) -> list[str]:
    out = []
    for name, b in town.boards.items():
        want = ["PWRON_RESET"] * (1 + town.cuts.get(name, 0))
        if b.history != want:
            odd = [(c, t) for c, t in zip(b.history, b.reset_at, strict=False)
                   if c != "PWRON_RESET"]
            when = f", {odd[0][0]} at {odd[0][1] - town.start:.0f} s" if odd else ""
            out.append(f"{name}: resets {b.history}, expected {want}{when}")
    return out


def check_heap(town: Town) -> list[str]:
    """Growth within each boot (a power cut starts the heap afresh), from the first reading
    an hour or more into the run."""
    out = []
    for name, rows in town.heap.items():
        for boot in sorted({r[2] for r in rows}):
            later = [used for t, used, n in rows if n == boot and t >= 3600]
            if len(later) >= 2 and max(later[1:]) - later[0] > HEAP_GROWTH_BYTES:
                out.append(f"{name}: heap in use grew from {later[0]} to {max(later[1:])} "
                           "bytes")
    return out


def check_clock(town: Town) -> list[str]:
    out = []
    for name, rows in town.clock_errors.items():
        unset = [t for t, e in rows if e is None]
        if unset:
            out.append(f"{name}: clock not set at {unset[0]} s, {CLOCK_SET_S} s or more after "
                       f"it was switched on ({len(unset)} hourly readings)")
        bad = [(t, e) for t, e in rows if e is not None and abs(e) > CLOCK_ERROR_S]
        if bad:
            out.append(f"{name}: clock {bad[0][1]} s off the town's at {bad[0][0]} s "
                       f"({len(bad)} hourly readings off)")
    return out


def ask_status(town: Town) -> None:
    """Each board's link status (cmd/status) at the end: what it has sent, so that events
    lost after the last one received are seen too."""
    with town.world.hold_clock():
        for name in town.boards:
            _ask_status(town, name)


def _ask_status(town: Town, name: str) -> None:
    n = len(town.ops.on(f"/{name}/reply/status"))
    town.ops.publish(f"bourg/{SITE}/{name}/cmd/status", b"{}")
    try:
        town.ops.wait_for(lambda ms: len(town.ops.on(f"/{name}/reply/status")) > n, 30)
    except TimeoutError:
        town.failures.append(f"at the end: {name} did not answer cmd/status")


def check_events(town: Town) -> list[str]:
    """No gap in each board's event sequence numbers as the operator received them, and none
    after the last: the board's own next_seq at the end (ask_status) follows it, and its
    queue is empty."""
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
        replies = town.ops.on(f"/{name}/reply/status")
        if replies:
            st = json.loads(replies[-1].payload)
            last = max(seqs, default=st["next_seq"] - 1)
            # one event may be on its way as the board answers; more is a stuck queue
            if st["queue"] > 1 or st["next_seq"] - 1 - st["queue"] != last:
                out.append(f"{name}: at the end its queue holds {st['queue']} and its last "
                           f"event is seq {st['next_seq'] - 1}; the operator's last is {last}")
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
        progress: Callable[[str], None] | None = None,
        only: list[str] | None = None) -> dict[str, Any]:
    """The whole soak; returns its JSON summary (`passed` says whether every check held)."""
    wall0 = time.monotonic()
    with Mosquitto(workdir / "mosquitto") as broker, \
            Registry(workdir / "registry.sqlite") as registry, \
            World(workdir / "world", access_points={street.WIFI[0]: street.WIFI[1]},
                  clock="virtual") as world:
        world.wall_offset_s = night.start_utc(seed) - time.time()
        town = build(broker, world, registry, only)
        plan = make_plan(hours, seed, list(town.poles),
                         COMPARTMENTS if town.bank is not None else [], list(town.boards))
        try:
            bring_up(town)
        except TimeoutError as e:  # the town never came up: nothing else to check
            town.ops.close()
            town.failures.append(f"bring-up: {e}")
            return _summary(town, plan, seed, hours, 0.0, time.monotonic() - wall0,
                            {"steps": town.failures})
        try:
            play(town, plan, hours, progress)
            town.world.elapse(120)  # the last events reach the operator
            if town.world.sntp is not None and town.world.sntp.lies:
                town.failures.append("the plan's lying NTP answer was never asked for: the "
                                     "boards did not ask NTP hourly")
            ask_status(town)
            checks = {"resets": check_resets(town), "heap": check_heap(town),
                      "events": check_events(town), "codes": check_codes(town),
                      "energy": check_energy(town), "clock": check_clock(town),
                      "schedule": night.check_levels(town.levels), "steps": town.failures}
        finally:
            town.ops.close()
        virtual_s = town.at()
    return _summary(town, plan, seed, hours, virtual_s, time.monotonic() - wall0, checks)


def _summary(town: Town, plan: list[Action], seed: int, hours: float, virtual_s: float,
             wall: float, checks: dict[str, list[str]]) -> dict[str, Any]:
    return {"soak": "town", "seed": seed, "hours": hours, "virtual_s": round(virtual_s),
            "wall_s": round(wall, 1), "ratio": round(virtual_s / wall, 1),
            "boards": sorted(town.boards), "actions": len(plan),
            "codes": len(town.codes), "power_cuts": sum(town.cuts.values()),
            "heap_used": {k: [u for _, u, _ in v] for k, v in town.heap.items()},
            "passed": not any(checks.values()), "checks": checks}
