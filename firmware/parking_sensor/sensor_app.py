"""Parking sensor node: wake, measure, decide, report, sleep.

Why no runtime/MQTT here: the node is on batteries and never joins WiFi. Each wake is a fresh
boot from deep sleep: read the magnetometer once, run the detector on the state kept in RTC
memory, send a REPORT when the bay changes (then retries until the totem's ACK) or a
HEARTBEAT when one is due, and go back to deep sleep. The radio is switched on only to send.
"""
import json
import time

import machine
import reports
import sensor_state
from bourg import store

STATE_FILE = "/data/sensor.json"  # the epoch survives power cuts (RTC memory does not)
BCAST = b"\xff\xff\xff\xff\xff\xff"


def _load_json(path):
    with open(path) as f:
        return json.load(f)


SCHEMA = {
    "type": "dict", "default": {}, "keys": {
        "node": {"type": "int", "min": 1, "max": 65535, "default": 1},
        "totem": {"type": "str", "maxlen": 12, "default": ""},
        "sample_ms": {"type": "int", "min": 200, "max": 600000, "default": 1000},
        "heartbeat_s": {"type": "int", "min": 10, "max": 86400, "default": 1800},
        "ack_ms": {"type": "int", "min": 5, "max": 1000, "default": 60},
        "battery_divider": {"type": "num", "min": 1, "max": 10, "default": 2.0},
        "low_battery_mv": {"type": "int", "min": 1000, "max": 5000, "default": 2300},
        "detector": {"type": "dict", "extra": True, "default": {}},
    },
}


class Node:
    def __init__(self, cfg, secrets):
        self.cfg = cfg
        self.app = cfg["app"]
        self.key = bytes.fromhex(secrets["espnow_key"])
        pins = cfg["pins"]
        self.i2c = machine.I2C(0, sda=machine.Pin(pins["sda"]), scl=machine.Pin(pins["scl"]),
                               freq=100000)
        self.bat = None
        if "battery_adc" in pins:
            self.bat = machine.ADC(machine.Pin(pins["battery_adc"]), atten=machine.ADC.ATTN_11DB)
        t = self.app["totem"]
        self.totem = bytes.fromhex(t) if t else BCAST

    def battery_mv(self):
        if self.bat is None:
            return 0
        return int(self.bat.read_uv() / 1000 * self.app["battery_divider"])

    def wake(self):
        from detector import Detector
        from drivers.magnetometer import probe

        rtc = machine.RTC()
        st = sensor_state.unpack(rtc.memory()) \
            if machine.reset_cause() == machine.DEEPSLEEP_RESET else None
        now = time.time()
        if st is None:  # power-on: a new epoch, a fresh baseline
            saved = store.load(STATE_FILE, {}) or {}
            epoch = (int(saved.get("epoch", 0)) + 1) & 0xFFFF
            store.ensure_dir("/data")
            store.save(STATE_FILE, {"epoch": epoch})
            st = (epoch, 0, 0, False, now, None, None)
            print("node", self.app["node"], "epoch", epoch)
        epoch, seq, changes, occupied, last_change, ob, blob = st
        box = reports.Outbox(self.app["heartbeat_s"], state=ob)
        params = self.app["detector"] or None
        det = Detector.from_bytes(blob, params) if blob else Detector(params)
        mag = probe(self.i2c)
        health = det.health
        if mag is None:
            print("no magnetometer found")
            health = 0.0
        else:
            try:
                bx, by, bz = mag.read_ut()
                temp = mag.temperature()
                now_occ = det.update(now, bx, by, bz, 15.0 if temp is None else temp)
                if now_occ != occupied:
                    occupied = now_occ
                    changes += 1
                    last_change = now
                    seq += 1
                    box.report(seq, now)
                    print("bay", "occupied" if occupied else "free", "seq", seq)
                health = det.health
            except OSError as e:
                print("magnetometer:", e)
                health = 0.0
        kind = box.due(now)
        if kind is not None:
            mv = self.battery_mv()
            flags = (reports.OCCUPIED if occupied else 0) | \
                (reports.LOW_BATTERY if 0 < mv < self.app["low_battery_mv"] else 0)
            if kind == "heartbeat":
                seq += 1
            frame = reports.encode(self.key, reports.REPORT if kind == "report" else
                                   reports.HEARTBEAT, self.app["node"], epoch, seq, flags,
                                   int(det.confidence * 100), int(health * 100), mv,
                                   int(det.temp),
                                   changes, now - last_change)
            box.sent(kind, now)
            if self._send(frame, epoch, seq) and kind == "report":
                box.acked(seq)
        rtc.memory(sensor_state.pack(epoch, seq, changes, occupied, last_change, box.s,
                                     det.to_bytes()))
        if mag is not None:
            mag.sleep()

    def _send(self, frame, epoch, seq):
        """Radio on, send, wait ack_ms for the totem's ACK, radio off. True if acked."""
        import espnow
        import network

        w = network.WLAN(network.STA_IF)
        w.active(True)
        e = espnow.ESPNow()
        e.active(True)
        try:
            e.add_peer(self.totem)
        except OSError:
            pass
        acked = False
        try:
            e.send(self.totem, frame, False)
            t0 = time.ticks_ms()
            while not acked:
                left = self.app["ack_ms"] - time.ticks_diff(time.ticks_ms(), t0)
                if left <= 0:
                    break
                mac, msg = e.recv(left)
                if msg is None:
                    break
                try:
                    f = reports.decode(self.key, msg)
                except reports.FrameError:
                    continue
                acked = f["type"] == reports.ACK and f["node"] == self.app["node"] and \
                    f["epoch"] == epoch and f["seq"] == seq
        except OSError as err:
            print("radio:", err)
        e.active(False)
        w.active(False)
        return acked


def main():
    from bourg import config

    try:
        cfg = config.load("/", SCHEMA)
        node = Node(cfg, cfg.secrets)
    except (config.ConfigError, KeyError, ValueError) as e:
        # Nothing to drive safely here; say why, and retry rarely to spare the battery.
        print("SAFE MODE:", e)
        machine.deepsleep(600000)
        return
    try:
        node.wake()
    except Exception as e:  # noqa: BLE001 - a bad wake must not stop the next one
        import sys

        sys.print_exception(e)
    if machine.reset_cause() != machine.DEEPSLEEP_RESET:
        import gc

        gc.collect()  # the heap a wake needs, once per power-on (wakes stay short)
        print("heap alloc", gc.mem_alloc(), "free", gc.mem_free())
    machine.deepsleep(node.app["sample_ms"])
