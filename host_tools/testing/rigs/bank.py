"""A virtual locker bank for HIL tests and the demo: a 4x3 keypad, three compartments with a
lock relay and a door switch each (compartment 2 refrigerated, with a TMP102), a buzzer, a
LED and a DS3231."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from host_tools.build import firmware
from host_tools.emulator import Board, World
from host_tools.emulator.parts import DS3231, TMP102, Keypad, Lock, Switch
from host_tools.field.mosquitto import Mosquitto, device_user

WIFI = ("bourg-test", "test-wifi-pass")
MQTT_HOST = "mqtt.hil.bourg"
ROWS, COLS = [32, 33, 25, 26], [27, 13, 4]
COMPARTMENTS = [{"n": 1, "lock": 16, "door": 19},
                {"n": 2, "lock": 17, "door": 23, "temp_addr": 0x48, "max_c": 8.0,
                 "max_minutes": 0.05},
                {"n": 3, "lock": 18, "door": 15}]


@dataclass
class Bank:
    board: Board
    keypad: Keypad
    locks: dict[int, Lock]
    doors: dict[int, Switch]
    fridge: TMP102 | None  # a compartment with a temp_addr has one
    key: str
    rtc: DS3231 | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def advance_clock(self, seconds: float) -> None:
        """Days later, in a moment: the board's RTC and its DS3231 move together (the bank
        keeps to its DS3231 and believes SNTP only near it)."""
        self.board.advance_clock(seconds)
        if self.rtc is not None:
            self.rtc.offset += int(seconds)

    def type(self, code: str) -> None:
        self.keypad.type(code, hold_s=0.13, gap_s=0.1)  # a brisk human: 130 ms a key

    def open_door(self, n: int, *, force: bool = False) -> None:
        """Open compartment n's door: only after an unlock pulse unless force."""
        if not force and not self.locks[n].unlocked():
            raise AssertionError(f"compartment {n} is locked")
        self.locks[n].door_opened()
        self.doors[n].set(False)  # the contact to ground opens

    def close_door(self, n: int) -> None:
        self.doors[n].set(True)

    def pulses(self, n: int) -> int:
        return len(self.locks[n].pulses)


def bank_config(device_id: str, *, port: int = 1883, **app: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"rows": ROWS, "cols": COLS, "compartments": COMPARTMENTS,
                            "buzzer": 5, "led": 2, "lock_pulse_ms": 300,
                            "open_window_s": 10, "door_alarm_s": 20}
    base.update(app)
    return {"schema": 1, "device_id": device_id, "role": "locker", "site": "hil",
            "board": "esp32-devkitc", "pins": {"sda": 21, "scl": 22},
            "network": {"ssid": WIFI[0], "mqtt": {"host": MQTT_HOST, "port": port,
                                                  "keepalive": 10, "tls": False}},
            "app": base, "emulator": {"x": 500, "y": 500}}


def add_bank(world: World, device_id: str = "locker-01", broker: Mosquitto | None = None,
             key: str | None = None, **app: Any) -> Bank:
    key = key or bytes(range(32)).hex()
    cfg = bank_config(device_id, port=broker.port if broker else 1883, **app)
    secrets: dict[str, Any] = {"wifi_password": WIFI[1], "bank_key": key}
    if broker is not None:
        world.dns[MQTT_HOST] = broker.host
        secrets["mqtt_user"] = device_user(device_id)
        secrets["mqtt_password"] = broker.add_device("hil", device_id)
    b = world.add_board(cfg, firmware.stage(cfg, secrets))
    return attach_bank(b, cfg, key)


def attach_bank(board: Board, config: dict[str, Any], key: str = "") -> Bank:
    """A bank's peripherals from its config (the HIL tests, the demo and `bourg emulate`
    alike): the keypad matrix, a lock relay and a closed door switch per compartment, a
    TMP102 at 4 °C where a compartment is refrigerated, and the DS3231. ``key`` is the
    bank's code key, kept for the tests that issue codes."""
    app = config["app"]
    comps = app["compartments"]
    kp = board.attach(Keypad(app["rows"], app["cols"]))
    locks = {c["n"]: board.attach(Lock(c["lock"])) for c in comps}
    doors = {c["n"]: board.attach(Switch(c["door"], closed=True)) for c in comps}
    temp = [c["temp_addr"] for c in comps if "temp_addr" in c]
    fridge = board.attach(TMP102(temp[0], celsius=4.0)) if temp else None
    rtc = board.attach(DS3231(board.world))
    return Bank(board, kp, locks, doors, fridge, key, rtc)
