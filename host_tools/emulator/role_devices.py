"""The peripherals a board config implies, attached to a virtual board, for `bourg emulate`: a
technician trying a config sees the totem's display and guidance LEDs, the pole's lamp and
the locker's locks change, instead of an app talking to empty pins. The HIL tests build their
own (host_tools/*/virtual_*.py) with the knobs they need; this is the plain, quiet default.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .board import Board
from .devices import TM1637, TMP102, WS2812, AnalogSource, Keypad, Led, Luminaire, Switch
from .lighting_devices import BH1750, DS3231, LampCurrent, Pir
from .magnetometers import LIS2MDL, QMC5883L

Status = Callable[[], str]
EARTH_UT = (20.0, 2.0, -42.0)


def attach(board: Board, config: dict[str, Any]) -> dict[str, Status]:
    """Attach the role's devices; returns label -> what a passer-by would see now."""
    role = config.get("role")
    pins: dict[str, Any] = config.get("pins", {})
    app: dict[str, Any] = config.get("app", {})
    out: dict[str, Status] = {}
    if role == "lighting":
        lamp = board.attach(Luminaire(pins["pwm"], invert=True, watts=40.0))
        board.attach(Pir(pins["pir"]))
        board.attach(Switch(pins["door"], closed=True))
        board.attach(LampCurrent(pins["lamp_adc"], lamp))
        board.attach(BH1750(lux=2.0))  # night
        out["lamp"] = lambda: f"{lamp.level * 100:.0f}%"
    elif role == "locker":
        board.attach(Keypad(app["rows"], app["cols"]))
        locks = {c["n"]: _LockCount(board, c["lock"]) for c in app["compartments"]}
        for c in app["compartments"]:
            board.attach(Switch(c["door"], closed=True))
        if any("temp_addr" in c for c in app["compartments"]):
            board.attach(TMP102(0x48, celsius=4.0))
        board.attach(DS3231(board.world))
        out["unlocks"] = lambda: " ".join(f"{n}:{lk.n}" for n, lk in sorted(locks.items()))
    elif role == "parking_sensor":
        if "mag_int" in pins:
            board.attach(LIS2MDL(field_ut=EARTH_UT, int_gpio=pins["mag_int"]))
        else:
            board.attach(QMC5883L(field_ut=EARTH_UT))
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
            board.attach(Switch(pins["button"]))
        if "led" in pins:
            led = board.attach(Led(pins["led"]))
            out["led"] = lambda: "on" if led.lit else "off"
        if "sda" in pins:
            board.attach(TMP102(app.get("tmp102_addr", 0x48), celsius=12.0))
    return out


class _LockCount(Led):
    """A lock relay: counts unlock pulses (rising edges)."""

    def __init__(self, board: Board, gpio: int) -> None:
        super().__init__(gpio)
        self.n = 0
        board.attach(self)

    def on_pin(self, gpio: int, level: int) -> None:
        if gpio == self.gpio and level:
            self.n += 1
