"""The peripherals a board config implies, attached to a virtual board, for `bourg emulate`: a
technician trying a config sees the totem's display and guidance LEDs, the pole's lamp and
the locker's locks change, and can act on the board's inputs (a car parks, someone walks
by, a code is typed), instead of an app talking to empty pins. The HIL tests build their own
(host_tools/*/virtual_*.py) with the knobs they need; this is the plain default.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .board import Board
from .devices import TM1637, TMP102, WS2812, AnalogSource, Keypad, Led, Luminaire, Switch
from .lighting_devices import BH1750, DS3231, LampCurrent, Pir
from .magnetometers import LIS2MDL, QMC5883L

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
    """Attach the role's devices; returns what they show and the commands they take."""
    role = config.get("role")
    pins: dict[str, Any] = config.get("pins", {})
    app: dict[str, Any] = config.get("app", {})
    rd = RoleDevices()
    out = rd.shows

    def action(name: str, args: str = "") -> Callable[[Action], Action]:
        def deco(fn: Action) -> Action:
            rd.actions[name], rd.usage[name] = fn, args
            return fn
        return deco

    if role == "lighting":
        lamp = board.attach(Luminaire(pins["pwm"], invert=True, watts=40.0))
        pir = board.attach(Pir(pins["pir"]))
        door = board.attach(Switch(pins["door"], closed=True))

        @action("walk")
        def _walk(args: list[str]) -> str:
            pir.detect(True)
            threading.Timer(1.0, pir.detect, (False,)).start()
            return "someone walks past the pole"

        @action("door", "open|close")
        def _door(args: list[str]) -> str:
            door.set({"open": False, "close": True}[args[0]])
            return f"cabinet door {args[0]}"

        board.attach(LampCurrent(pins["lamp_adc"], lamp))
        board.attach(BH1750(lux=2.0))  # night
        out["lamp"] = lambda: f"{lamp.level * 100:.0f}%"
    elif role == "locker":
        from host_tools.locker.virtual_bank import Lock  # a relay that counts unlock pulses

        keypad = board.attach(Keypad(app["rows"], app["cols"]))
        locks = {c["n"]: board.attach(Lock(c["lock"])) for c in app["compartments"]}
        doors = {c["n"]: board.attach(Switch(c["door"], closed=True))
                 for c in app["compartments"]}

        @action("type", "KEYS (digits, * and #)")
        def _type(args: list[str]) -> str:
            keys = args[0]
            if any(k not in "0123456789*#" for k in keys):
                raise ValueError("keys are 0-9, * and #")
            threading.Thread(target=keypad.type, args=(keys, 0.13, 0.1), daemon=True).start()
            return f"typing {keys}"

        @action("door", "N open|close")
        def _ldoor(args: list[str]) -> str:
            doors[int(args[0])].set({"open": False, "close": True}[args[1]])
            return f"compartment {args[0]} door {args[1]}"

        if any("temp_addr" in c for c in app["compartments"]):
            board.attach(TMP102(0x48, celsius=4.0))
        board.attach(DS3231(board.world))
        out["unlocks"] = lambda: " ".join(f"{n}:{len(lk.pulses)}"
                                          for n, lk in sorted(locks.items()))
    elif role == "parking_sensor":
        # the virtual car park's figures (imported here: host_tools.parking builds on this
        # package)
        from host_tools.parking.virtual_lot import CAR_UT as car
        from host_tools.parking.virtual_lot import EARTH_UT as earth

        mag: LIS2MDL | QMC5883L
        if "mag_int" in pins:
            mag = board.attach(LIS2MDL(field_ut=earth, int_gpio=pins["mag_int"]))
        else:
            mag = board.attach(QMC5883L(field_ut=earth))

        @action("park")
        def _park(args: list[str]) -> str:
            mag.field_ut = tuple(e + c for e, c in zip(earth, car, strict=True))
            return "a car parks over the sensor"

        @action("leave")
        def _leave(args: list[str]) -> str:
            mag.field_ut = earth
            return "the car leaves"

        if "battery_adc" in pins:
            board.attach(AnalogSource(pins["battery_adc"], 1.45))  # 2 x AA lithium, 1:2
    elif role == "parking_totem":
        for d in app.get("displays", []):
            disp = board.attach(TM1637(d["clk"], d["dio"]))
            out[f"display {d['zone']}"] = lambda disp=disp: f"[{disp.text}]"
        gd = app.get("guidance")
        if gd:
            strip = board.attach(WS2812(gd["pin"], len(gd["bays"])))
            out["guidance"] = lambda: " ".join(
                f"{b}:{n}" for b, n in zip(gd["bays"], strip.names(), strict=True))
    elif role == "fieldtest":
        if "button" in pins:
            button = board.attach(Switch(pins["button"]))

            @action("press")
            def _press(args: list[str]) -> str:
                button.press()
                threading.Timer(0.3, button.release).start()
                return "button pressed"
        if "led" in pins:
            led = board.attach(Led(pins["led"]))
            out["led"] = lambda: "on" if led.lit else "off"
        if "sda" in pins:
            board.attach(TMP102(app.get("tmp102_addr", 0x48), celsius=12.0))
    return rd

