"""A virtual street of lighting poles for the HIL tests, the demo and the benchmarks: each pole
has a luminaire on a 0-10 V interface, a presence sensor, a cabinet-door switch, the lamp's
current sensor and a BH1750, and hears only its neighbours on the radio."""

from __future__ import annotations

import calendar
import time
from dataclasses import dataclass
from typing import Any

from host_tools.build import firmware
from host_tools.emulator import Board, RadioMedium, World
from host_tools.emulator.parts import (
    BH1750,
    DS3231,
    AnalogSource,
    LampCurrent,
    Luminaire,
    Pir,
    Switch,
)
from host_tools.emulator.waiting import wait_until
from host_tools.emulator.world import DEFAULT_AP_CHANNEL
from host_tools.field.mosquitto import Mosquitto, device_user

WIFI = ("bourg-test", "test-wifi-pass")
MQTT_HOST = "mqtt.hil.bourg"
SPACING_M = 30.0
PINS = {"pwm": 25, "pir": 26, "door": 32, "lamp_adc": 34, "sda": 21, "scl": 22}
WAVE_KEY = "6c69676874696e672d746573742d6b65792d30303031"  # test-only site key


@dataclass
class Pole:
    board: Board
    lamp: Luminaire
    pir: Pir
    door: Switch
    current: LampCurrent
    light: BH1750

    @property
    def level(self) -> float:
        return round(self.lamp.level * 100, 1)


def night_offset(hour_local: float = 22.0, utc_offset_h: float = 1.0) -> float:
    """World wall-clock shift that makes it `hour_local` today in a CET town in November."""
    now = time.time()
    day = calendar.timegm(time.gmtime(now)[:3] + (0, 0, 0, 0, 0, 0))
    target = day + (hour_local - utc_offset_h) * 3600
    return target - now


def pole_config(device_id: str, x_m: float, *, site: str = "hil", port: int = 1883,
                **app: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "x_m": x_m, "lat": 48.85, "lon": 2.35,
        "profile": {"utc_offset_min": 60, "dst": "eu", "periods": [
            {"name": "night", "start": "sunset", "end": "sunrise", "base": 10,
             "presence": 100}]},
        "wave": {"spacing_m": SPACING_M, "nb_level": 50, "ahead_level": 60},
        "dimmer": {"hold_ms": 3000, "ramp_down_ms": 1000},
        "presence": {"release_ms": 200},
        "state_ms": 5000, "energy_ms": 5000, "persist_s": 10,
    }
    base.update(app)
    return {
        "schema": 1, "device_id": device_id, "role": "lighting", "site": site,
        "board": "esp32-devkitc", "pins": dict(PINS),
        "network": {"ssid": WIFI[0], "espnow_channel": DEFAULT_AP_CHANNEL,
                    "mqtt": {"host": MQTT_HOST, "port": port, "keepalive": 10,
                             "tls": False}},
        "app": base,
        "emulator": {"x": x_m, "y": 0},
    }


def street_world(workdir: Any, *, hour_local: float = 22.0, clock: str = "real") -> World:
    """A world whose radio reaches one pole spacing and a bit, at night; clock="virtual"
    skips what the poles only wait through (docs/emulator.md)."""
    w = World(workdir, access_points={WIFI[0]: WIFI[1]},
              radio=RadioMedium(range_m=SPACING_M * 1.2), clock=clock)
    w.wall_offset_s = night_offset(hour_local)
    return w


def add_pole(world: World, config: dict[str, Any], broker: Mosquitto | None = None,
             *, lux: float = 2.0, rtc: bool = False, ldr_volts: float | None = None,
             update_key: str | None = None) -> Pole:
    """A pole with a BH1750 reading `lux`, or with ldr_volts an LDR divider on GPIO 35 and
    no BH1750; update_key lets it take over-the-air updates."""
    secrets: dict[str, Any] = {"wifi_password": WIFI[1], "wave_key": WAVE_KEY}
    if update_key is not None:
        secrets["update_key"] = update_key
    if broker is not None:
        world.dns[MQTT_HOST] = broker.host
        secrets["mqtt_user"] = device_user(config["device_id"])
        secrets["mqtt_password"] = broker.add_device(config["site"], config["device_id"])
    b = world.add_board(config, firmware.stage(config, secrets))
    return attach_pole(b, config, lux=lux, rtc=rtc, ldr_volts=ldr_volts)


def attach_pole(board: Board, config: dict[str, Any], *, lux: float = 2.0, rtc: bool = False,
                ldr_volts: float | None = None) -> Pole:
    """A pole's peripherals on the config's pins (the HIL tests, the demo and `bourg
    emulate` alike): the luminaire behind its inverting 0-10 V stage, the presence sensor,
    the cabinet door (closed), the lamp's current sensor, and a BH1750 reading `lux` or,
    with ldr_volts, an LDR divider on GPIO 35 instead; rtc adds a DS3231."""
    pins = config["pins"]
    lamp = board.attach(Luminaire(pins["pwm"], invert=True, watts=40.0))
    pir = board.attach(Pir(pins["pir"]))
    door = board.attach(Switch(pins["door"], closed=True))
    current = board.attach(LampCurrent(pins["lamp_adc"], lamp))
    light = BH1750(lux=lux)
    if ldr_volts is None:
        board.attach(light)
    else:
        board.attach(AnalogSource(35, ldr_volts))
    if rtc:
        board.attach(DS3231(board.world))
    return Pole(board, lamp, pir, door, current, light)


def wait_level(p: Pole, pred: Any, timeout: float = 10.0) -> float:
    """The pole's lamp level once pred(level) holds; TimeoutError with the level and the
    board's last output otherwise."""
    wait_until(lambda: pred(p.level), timeout,
               lambda: f"{p.board.name}: level {p.level} did not satisfy the condition; "
                       f"output:\n{p.board.output_text()[-3000:]}")
    return p.level
