"""The peripherals a board config implies, attached to a virtual board, for `bourg emulate`: a
technician trying a config sees the totem's display and guidance LEDs, the pole's lamp and
the locker's locks change, and can act on the board's inputs (a car parks, someone walks
by, a code is typed), instead of an app talking to empty pins. The devices are wired by the
same rigs (street, bank, lot) the HIL tests and the demo use.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from host_tools.emulator.board import Board
from host_tools.emulator.parts import TMP102, Led, Switch
from host_tools.testing.rigs.bank import attach_bank
from host_tools.testing.rigs.lot import CAR_UT, EARTH_UT, attach_sensor, attach_totem
from host_tools.testing.rigs.street import attach_pole

Status = Callable[[], str]
Action = Callable[[list[str]], str]


@dataclass
class RoleDevices:
    shows: dict[str, Status] = field(default_factory=dict)  # label -> what one sees now
    actions: dict[str, Action] = field(default_factory=dict)  # command -> fn(args) -> reply
    usage: dict[str, str] = field(default_factory=dict)  # command -> its arguments

    def run(self, line: str) -> str:
        """One command line, e.g. 'park' or 'type 1234#'; the reply to print."""
        words = line.split()
        if not words:
            return ""
        fn = self.actions.get(words[0])
        if fn is None:
            cmds = ", ".join(f"{c} {a}".strip() for c, a in self.usage.items()) or "none"
            return f"unknown command {words[0]!r}; this board takes: {cmds}"
        usage = f"usage: {words[0]} {self.usage[words[0]]}".rstrip()
        try:
            return fn(words[1:])
        except IndexError:
            return f"{words[0]}: missing arguments; {usage}"
        except KeyError as e:
            return f"{words[0]}: no such choice {e}; {usage}"
        except ValueError as e:
            return f"{words[0]}: {e}; {usage}"


def attach(board: Board, config: dict[str, Any]) -> RoleDevices:
    """Attach the role's devices, as the HIL tests and the demo wire them; returns what they
    show and the commands they take (none for an unknown role)."""
    rd = RoleDevices()
    wire = _BY_ROLE.get(config.get("role", ""))
    if wire is not None:
        wire(board, config, rd)
    return rd


def _action(rd: RoleDevices, name: str, args: str = "") -> Callable[[Action], Action]:
    def deco(fn: Action) -> Action:
        rd.actions[name], rd.usage[name] = fn, args
        return fn
    return deco


def _pole(board: Board, config: dict[str, Any], rd: RoleDevices) -> None:
    pole = attach_pole(board, config)  # at night: a BH1750 reading 2 lux

    @_action(rd, "walk")
    def _walk(args: list[str]) -> str:
        pole.pir.detect(True)
        threading.Timer(1.0, pole.pir.detect, (False,)).start()
        return "someone walks past the pole"

    @_action(rd, "door", "open|close")
    def _door(args: list[str]) -> str:
        pole.door.set({"open": False, "close": True}[args[0]])
        return f"cabinet door {args[0]}"

    rd.shows["lamp"] = lambda: f"{pole.lamp.level * 100:.0f}%"


def _locker(board: Board, config: dict[str, Any], rd: RoleDevices) -> None:
    bank = attach_bank(board, config)

    @_action(rd, "type", "KEYS (digits, * and #)")
    def _type(args: list[str]) -> str:
        keys = args[0]
        if any(k not in "0123456789*#" for k in keys):
            raise ValueError("keys are 0-9, * and #")
        threading.Thread(target=bank.type, args=(keys,), daemon=True).start()
        return f"typing {keys}"

    @_action(rd, "door", "N open|close|force")
    def _door(args: list[str]) -> str:
        """A door opens only once the bank has pulsed its lock, as a hook lock lets it;
        'force' is a crowbar (the bank raises its forced-door alarm)."""
        n, what = int(args[0]), args[1]
        if n not in bank.doors:
            raise KeyError(n)
        if what == "close":
            bank.close_door(n)
        elif what in ("open", "force"):
            if not bank.doors[n].closed:
                return f"compartment {n} door is already open"
            if what == "open" and not bank.locks[n].unlocked():
                return (f"compartment {n} is locked: type a code that opens it first "
                        f"(or 'door {n} force' to break it open)")
            bank.open_door(n, force=what == "force")
        else:
            raise KeyError(what)
        return f"compartment {n} door {'open' if what == 'force' else what}"

    rd.shows["unlocks"] = lambda: " ".join(f"{n}:{bank.pulses(n)}" for n in sorted(bank.locks))


def _sensor(board: Board, config: dict[str, Any], rd: RoleDevices) -> None:
    mag = attach_sensor(board, config)  # a LIS2MDL where pins.mag_int is wired

    @_action(rd, "park")
    def _park(args: list[str]) -> str:
        mag.field_ut = tuple(e + c for e, c in zip(EARTH_UT, CAR_UT, strict=True))
        return "a car parks over the sensor"

    @_action(rd, "leave")
    def _leave(args: list[str]) -> str:
        mag.field_ut = EARTH_UT
        return "the car leaves"


def _totem(board: Board, config: dict[str, Any], rd: RoleDevices) -> None:
    displays, strip = attach_totem(board, config)
    for zone, disp in displays.items():
        rd.shows[f"display {zone}"] = lambda disp=disp: f"[{disp.text}]"
    if strip is not None:
        names = config.get("app", {})["guidance"]["bays"]
        rd.shows["guidance"] = lambda: " ".join(
            f"{b}:{n}" for b, n in zip(names, strip.names(), strict=True))


def _fieldtest(board: Board, config: dict[str, Any], rd: RoleDevices) -> None:
    ft = attach_fieldtest(board, config)
    button, led = ft.button, ft.led
    if button is not None:
        @_action(rd, "press")
        def _press(args: list[str]) -> str:
            assert button is not None
            button.press()
            threading.Timer(0.3, button.release).start()
            return "button pressed"
    if led is not None:
        rd.shows["led"] = lambda: "on" if led.lit else "off"


_BY_ROLE: dict[str, Callable[[Board, dict[str, Any], RoleDevices], None]] = {
    "lighting": _pole, "locker": _locker, "parking_sensor": _sensor,
    "parking_totem": _totem, "fieldtest": _fieldtest,
}


@dataclass
class FieldTest:
    button: Switch | None
    led: Led | None
    sensor: TMP102 | None


def attach_fieldtest(board: Board, config: dict[str, Any], celsius: float = 12.0) -> FieldTest:
    """A field-test board's devices from its config's pins: the button, the LED and, where
    there is an I2C bus, a TMP102 at app.tmp102_addr (0x48). Used by `bourg emulate` and the
    demo."""
    pins = config.get("pins", {})
    app = config.get("app", {})
    return FieldTest(
        board.attach(Switch(pins["button"])) if "button" in pins else None,
        board.attach(Led(pins["led"])) if "led" in pins else None,
        board.attach(TMP102(app.get("tmp102_addr", 0x48), celsius=celsius))
        if "sda" in pins else None)
