"""A small virtual car park for HIL tests, the demo and the battery estimate: sensor nodes
with a magnetometer model in each bay, and a totem with a TM1637 per zone and, optionally,
a WS2812 guidance LED per bay."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from host_tools.build import firmware
from host_tools.emulator import Board, World
from host_tools.emulator.parts import HMC5883L, LIS2MDL, QMC5883L, TM1637, WS2812, AnalogSource
from host_tools.emulator.world import DEFAULT_AP_CHANNEL
from host_tools.field.mosquitto import Mosquitto, device_user

WIFI = ("bourg-test", "test-wifi-pass")
CHANNEL = DEFAULT_AP_CHANNEL  # the site's ESP-NOW channel: the world's access point's
MQTT_HOST = "mqtt.hil.bourg"
EARTH_UT = (20.0, 2.0, -42.0)
CAR_UT = (14.0, -9.0, 35.0)  # a car parked over the sensor: tens of uT
DISPLAY_PINS = [(18, 19), (16, 17), (26, 27), (32, 33)]  # (CLK, DIO) per zone
# each chip's own RMS noise per axis, µT: HMC5883L noise floor 2 mG, QMC5883L field
# resolution 2 mG, LIS2MDL 3 mG RMS (datasheets; the LIS2MDL figure is its high-resolution
# one: its low-power mode is noisier, which this model does not follow)
NOISE_UT = {"hmc": 0.2, "qmc": 0.2, "lis": 0.3}
MAG_INT_PIN = 34  # an RTC GPIO, so ext1 can wake the ESP32 from deep sleep
GUIDANCE_PIN = 23  # the totem's WS2812 strip of per-bay guidance LEDs


@dataclass
class Bay:
    board: Board
    mag: QMC5883L | HMC5883L | LIS2MDL
    node: int
    bay: str
    key: str

    def park(self, car: bool = True) -> None:
        self.mag.field_ut = tuple(e + (c if car else 0.0) for e, c in
                                  zip(EARTH_UT, CAR_UT, strict=True))


def sensor_config(device_id: str, node: int, x: float, *, mag_int: bool = False,
                  channel: int = CHANNEL, **app: Any) -> dict[str, Any]:
    base = {"node": node, "sample_ms": 1000, "heartbeat_s": 30, "ack_ms": 80}
    base.update(app)
    pins = {"sda": 21, "scl": 22, "battery_adc": 35}
    if mag_int:
        pins["mag_int"] = MAG_INT_PIN
    return {"schema": 1, "device_id": device_id, "role": "parking_sensor", "site": "hil",
            "board": "esp32-sensor", "pins": pins,
            "network": {"ssid": WIFI[0], "espnow_channel": channel,
                        "mqtt": {"host": MQTT_HOST, "port": 1883, "tls": False}},
            "app": base, "emulator": {"x": x, "y": 0}}


def totem_config(device_id: str, bays: list[dict[str, Any]], *, port: int = 1883,
                 **app: Any) -> dict[str, Any]:
    zones = sorted({b["zone"] for b in bays})
    base = {"heartbeat_s": 30, "missed": 2, "bays": bays,
            "displays": [{"zone": z, "clk": DISPLAY_PINS[i][0], "dio": DISPLAY_PINS[i][1]}
                         for i, z in enumerate(zones)]}
    base.update(app)
    return {"schema": 1, "device_id": device_id, "role": "parking_totem", "site": "hil",
            "board": "esp32-devkitc", "pins": {},
            "network": {"ssid": WIFI[0], "espnow_channel": CHANNEL,
                        "mqtt": {"host": MQTT_HOST, "port": port, "keepalive": 10,
                                 "tls": False}},
            "app": base, "emulator": {"x": 20, "y": 5}}


def add_bay(world: World, device_id: str, node: int, bay: str, x: float, *, chip: str = "qmc",
            key: str | None = None, channel: int = CHANNEL, **app: Any) -> Bay:
    """chip: "qmc" or "hmc" (sampled on a timer), or "lis" (LIS2MDL, wake on change);
    channel: the node's configured ESP-NOW channel (network.espnow_channel)."""
    key = key or f"{node:02x}" * 16
    cfg = sensor_config(device_id, node, x, mag_int=chip == "lis", channel=channel, **app)
    b = world.add_board(cfg, firmware.stage(cfg, {"wifi_password": "", "espnow_key": key}))
    return Bay(b, attach_sensor(b, cfg, chip), node, bay, key)


def attach_sensor(board: Board, config: dict[str, Any], chip: str = "qmc"
                  ) -> QMC5883L | HMC5883L | LIS2MDL:
    """A sensor node's peripherals from its config (the HIL tests, the demo and `bourg
    emulate` alike): a LIS2MDL whose INT drives pins.mag_int where the config wires one
    (wake on change), else the QMC5883L or, with chip "hmc", the HMC5883L, each over an
    empty bay with its datasheet noise; and 2 x AA lithium (2.9 V) behind the 1:2 divider
    on pins.battery_adc. Returns the magnetometer, whose field_ut a car changes."""
    pins = config["pins"]
    seed = config["app"].get("node", 0)
    mag: QMC5883L | HMC5883L | LIS2MDL
    if "mag_int" in pins:
        mag = LIS2MDL(field_ut=EARTH_UT, int_gpio=pins["mag_int"], noise_ut=NOISE_UT["lis"],
                      seed=seed)
    elif chip == "hmc":
        mag = HMC5883L(field_ut=EARTH_UT, noise_ut=NOISE_UT["hmc"], seed=seed)
    else:
        mag = QMC5883L(field_ut=EARTH_UT, noise_ut=NOISE_UT["qmc"], seed=seed)
    board.attach(mag)
    if "battery_adc" in pins:
        board.attach(AnalogSource(pins["battery_adc"], 1.45))
    return mag


def add_totem(world: World, bays: list[Bay], zone_of: dict[str, str],
              broker: Mosquitto | None = None, device_id: str = "totem-1",
              guidance: bool | dict[str, Any] = False,
              **app: Any) -> tuple[Board, dict[str, TM1637]]:
    """guidance: True for a WS2812 strip with one LED per bay, in the order of `bays` (see
    guidance_leds), or the app's `guidance` config itself."""
    spec = [{"node": b.node, "device": b.board.name, "bay": b.bay, "zone": zone_of[b.bay]}
            for b in bays]
    if guidance:
        app["guidance"] = guidance if isinstance(guidance, dict) else \
            {"pin": GUIDANCE_PIN, "bays": [b.bay for b in bays]}
    cfg = totem_config(device_id, spec, port=broker.port if broker else 1883, **app)
    secrets: dict[str, Any] = {"wifi_password": WIFI[1],
                               "node_keys": {b.board.name: b.key for b in bays}}
    if broker is not None:
        world.dns[MQTT_HOST] = broker.host
        secrets["mqtt_user"] = device_user(device_id)
        secrets["mqtt_password"] = broker.add_device("hil", device_id)
    t = world.add_board(cfg, firmware.stage(cfg, secrets))
    return t, attach_totem(t, cfg)[0]


def attach_totem(board: Board, config: dict[str, Any]
                 ) -> tuple[dict[str, TM1637], WS2812 | None]:
    """A totem's peripherals from its config (the HIL tests, the demo and `bourg emulate`
    alike): a TM1637 per zone display, by zone, and the guidance strip if it has one."""
    app = config["app"]
    displays = {d["zone"]: board.attach(TM1637(d["clk"], d["dio"]))
                for d in app.get("displays", [])}
    gd = app.get("guidance")
    strip = board.attach(WS2812(gd["pin"], len(gd["bays"]))) if gd else None
    return displays, strip


def guidance_leds(totem: Board) -> WS2812:
    """The totem's strip of guidance LEDs (add_totem(..., guidance=True))."""
    return next(d for d in totem.devices if isinstance(d, WS2812))
