"""Parking sensor node: wake, measure, decide, report, sleep.

Why no runtime/MQTT here: the node is on batteries and never joins WiFi. Each wake is a fresh
boot from deep sleep with the state kept in RTC memory. The radio is switched on only to send
a REPORT when the bay changes or at power-on (then retries until the totem's ACK), a
HEARTBEAT when due, or sooner to ask the totem about the neighbour bays (Detector.wants_hint):
its ACK says when one last changed.

Two duty cycles, chosen by the chip (gate.py has the reasoning):
* wake on change (LIS2MDL with its INT wired to pins["mag_int"]): the chip watches the field
  while the ESP32 is in deep sleep; an interrupt wakes the node, which then follows at 1 Hz in
  light sleep until the detector is settled, re-arms the chip at the new field and goes back
  to deep sleep until the next interrupt, check-in or report retry;
* a timer (QMC5883L, HMC5883L: no threshold interrupt): one sample per deep-sleep wake, every
  sample_ms.
"""
import json
import time

import machine
import reports
import sensor_state
import uplink
from bourg import store
from bourg.auth import BCAST

STATE_FILE = "/data/sensor.json"  # the epoch survives power cuts (RTC memory does not)


def _load_json(path):
    with open(path) as f:
        return json.load(f)


class Node:
    def __init__(self, cfg, secrets):
        import gate
        from detector import Detector

        self.cfg = cfg
        self.app = cfg["app"]
        self.key = bytes.fromhex(secrets["espnow_key"])  # checked at load (sensor_schema)
        self.gate_params = gate.params(self.app["gate"] or None)
        Detector(self.app["detector"] or None)  # a bad parameter is a config error
        pins = cfg["pins"]
        self.i2c = machine.I2C(0, sda=machine.Pin(pins["sda"]), scl=machine.Pin(pins["scl"]),
                               freq=100000)
        self.int_pin = machine.Pin(pins["mag_int"], machine.Pin.IN) \
            if "mag_int" in pins else None
        self.bat = None
        if "battery_adc" in pins:
            self.bat = machine.ADC(machine.Pin(pins["battery_adc"]), atten=machine.ADC.ATTN_11DB)
        t = self.app["totem"]  # 12 hex digits or "" (sensor_schema)
        self.totem = bytes.fromhex(t) if t else BCAST

    def battery_mv(self):
        if self.bat is None:
            return 0
        return int(self.bat.read_uv() / 1000 * self.app["battery_divider"])

    def run(self):
        """One wake: sample (and follow at 1 Hz while something is going on), report, then
        arm or not. Returns the deep sleep to take, in ms."""
        import esp32
        import gate
        from detector import Detector
        from drivers.magnetometer import probe

        rtc = machine.RTC()
        now = time.time()
        st = self._wake_state(rtc, now)
        last_s = st["last_sample_s"]
        armed_at = st["armed_at_s"]
        blob = st["detector"]
        mag = probe(self.i2c)
        gated = mag is not None and mag.has_wake_interrupt and self.int_pin is not None
        params = gate.detector_params(self.app["detector"]) if gated else \
            (self.app["detector"] or None)
        try:
            self.det = Detector.from_bytes(blob, params) if blob else Detector(params)
        except ValueError:
            self.det = Detector(params)
        woke_by_int = machine.wake_reason() == machine.EXT1_WAKE
        if mag is None:
            print("no magnetometer found")
        elif gated and armed_at >= 0:
            src = mag.disarm()  # pyright: ignore[reportAttributeAccessIssue] has_wake_interrupt
            if woke_by_int:
                print("wake: field moved", hex(src))
        # after a sleep behind the threshold, the first sample stands for the whole gap
        gap = now - last_s if armed_at >= 0 and now > last_s else 1
        # whatever woke it, the median window holds the samples from before the sleep until
        # calm_n fresh ones have passed through it (a check-in saw a weak car too late)
        followed = 0
        gate_params = self.gate_params
        t0 = now
        while True:
            health = self._sample(mag, now, gap)
            # a disturbance the detector cannot place alone: ask the totem whether a
            # neighbour bay just changed (the answer rides on the ACK to a heartbeat)
            # a vehicle manoeuvring over this sensor: the totem tells the neighbour bays,
            # whose sensors see its small offset from beside, not to count it
            self._radio(now, health, self.det.wants_hint, self.det.moving)
            last_s = now
            if not gated:
                break
            if gate.may_arm(self.det, gate_params, followed) or \
                    now - t0 >= gate_params["follow_max_s"]:
                ref = self.det.prev
                mag.arm(ref, gate_params["wake_ut"])  # pyright: ignore[reportAttributeAccessIssue] has_wake_interrupt
                esp32.wake_on_ext1((self.int_pin,), esp32.WAKEUP_ANY_HIGH)  # pyright: ignore[reportArgumentType] gated: not None
                armed_at = now
                self._save(rtc, last_s, armed_at)
                return gate.next_wake_s(now, armed_at, gate_params["checkin_s"],
                                        self.up.box.next_due()) * 1000
            machine.lightsleep(int(self.app["sample_ms"]))  # the port takes ints only
            now = time.time()
            gap = 1
            followed += 1
        self._save(rtc, last_s, -1)
        if mag is not None:
            mag.sleep()
        return self.app["sample_ms"]

    def _wake_state(self, rtc, now):
        """The node's state from RTC memory after a deep sleep or, after a power-on, a new
        epoch with a fresh baseline, announced at once; returns the state read."""
        st = sensor_state.unpack(rtc.memory()) \
            if machine.reset_cause() == machine.DEEPSLEEP_RESET else None
        power_on = st is None
        if power_on:  # a new epoch, a fresh baseline
            saved = store.load(STATE_FILE, {}) or {}
            epoch = (int(saved.get("epoch", 0)) + 1) & 0xFFFF
            store.ensure_dir("/data")
            store.save(STATE_FILE, {"epoch": epoch})
            st = {"epoch": epoch, "seq": 0, "changes": 0, "occupied": False,
                  "last_change_s": now, "outbox": None, "last_sample_s": now,
                  "armed_at_s": -1, "calm_since_s": now, "detector": None, "recal": False}
            print("node", self.app["node"], "epoch", epoch)
        self.up = uplink.Uplink(self.key, self.app["node"], st["epoch"], st["seq"],
                                reports.Outbox(self.app["heartbeat_s"], state=st["outbox"]))
        self.changes = st["changes"]
        self.occupied = st["occupied"]
        self.last_change = st["last_change_s"]
        self.calm_since = st["calm_since_s"]
        self.recal = st["recal"]
        self.last = None  # the last sample (t, bx, by, bz, temp), for a recalibration
        if power_on:
            # announced as a REPORT, retried until acked: a totem that was still starting
            # (the whole site powered up at once) learns the bay in seconds, not a heartbeat
            self.up.report(now)
        return st

    def _sample(self, mag, now, gap):
        """Read the field, run the detector, queue a REPORT on a change; returns health."""
        if mag is None:
            return 0.0
        try:
            bx, by, bz = mag.read_ut()
            temp = mag.temperature()
            temp = 15.0 if temp is None else temp
            self.last = (now, bx, by, bz, temp)
            occ = self.det.update(now, bx, by, bz, temp, gap)
        except OSError as e:
            print("magnetometer:", e)
            return 0.0
        if self.det.calm == 0:
            self.calm_since = now  # the field moved: it settles (if it does) from here
        if occ != self.occupied:
            self._changed(occ, now)
        return self.det.health

    def _changed(self, occ, now):
        self.occupied = occ
        self.changes += 1
        self.last_change = now
        self.up.report(now)
        print("bay", "occupied" if occ else "free", "seq", self.up.seq)

    def _recalibrate(self, now):
        """The totem relayed staff's word that the bay is empty: the last sample becomes the
        baseline, and a report saying so (RECALIBRATED until acked) goes out at once."""
        if self.last is None:
            return False
        self.det.recalibrate(self.last)
        self.recal = True
        print("recalibrated on request")
        if self.occupied:
            self._changed(False, now)
        else:
            self.up.report(now)
        return True

    def _radio(self, now, health, question=False, moving=False):
        up = self.up
        plan = up.plan(now, question, moving)
        if plan is None:
            return
        kind, wait = plan
        det = self.det
        mv = self.battery_mv()
        fl = uplink.flags(self.occupied, moving=moving,
                          low_battery=0 < mv < self.app["low_battery_mv"],
                          recalibrated=self.recal)
        frame = up.frame(kind, now, fl, int(det.confidence * 100), int(health * 100), mv,
                         int(det.temp), self.changes, now - self.last_change)
        if not wait:
            heard = self._tell(frame)
            print("field moving: totem", "heard" if heard else "not heard")
            return
        ack = self._send(frame)
        if moving:
            print("field moving: totem", "heard" if ack is not None else "not heard")
        if question:
            age, every = reports.neighbour_age(ack)
            calm = max(0, now - self.calm_since)
            self.det.neighbour_hint(age, calm, every)
            print("neighbours:", "no answer" if age is None else
                  "none changed" if age < 0 else "changed %d s ago" % age,
                  "(field settled %d s ago)" % calm,
                  "(not all sensed)" if age is not None and not every else "")
        up.settle(ack)
        if ack is not None:
            if self.recal and fl & reports.RECALIBRATED:
                self.recal = False  # the totem has heard it
            if ack["flags"] & reports.RECALIBRATED and not self.recal and \
                    self._recalibrate(now):
                self._radio(now, health)

    def _save(self, rtc, last_s, armed_at):
        rtc.memory(sensor_state.pack(
            {"epoch": self.up.epoch, "seq": self.up.seq, "changes": self.changes,
             "occupied": self.occupied, "recal": self.recal, "last_change_s": self.last_change,
             "outbox": self.up.box.s, "last_sample_s": last_s, "armed_at_s": armed_at,
             "calm_since_s": self.calm_since}, self.det.to_bytes()))

    def _radio_on(self):
        """The radio on the site's ESP-NOW channel, the totem's AP's (it starts on 1 at every
        wake), with the totem as a peer: (wlan, espnow), to switch off after."""
        import espnow
        import network

        w = network.WLAN(network.STA_IF)
        w.active(True)
        w.config(channel=self.cfg["network"]["espnow_channel"])
        e = espnow.ESPNow()
        e.active(True)
        try:
            e.add_peer(self.totem)
        except OSError:
            pass
        return w, e

    def _tell(self, frame):
        """Send without awaiting the totem's answer: whether its radio acknowledged the
        frame."""
        w, e = self._radio_on()
        heard = False
        try:
            heard = e.send(self.totem, frame, True)
        except OSError as err:
            print("radio:", err)
        e.active(False)
        w.active(False)
        return heard

    def _send(self, frame):
        """Radio on, send, wait ack_ms for the totem's ACK, radio off. The decoded ACK, or
        None."""
        w, e = self._radio_on()
        ack = None
        try:
            e.send(self.totem, frame, False)
            t0 = time.ticks_ms()
            while ack is None:
                left = self.app["ack_ms"] - time.ticks_diff(time.ticks_ms(), t0)
                if left <= 0:
                    break
                mac, msg = e.recv(left)
                if msg is None:
                    break
                ack = self.up.ack_of(msg)
        except OSError as err:
            print("radio:", err)
        e.active(False)
        w.active(False)
        return ack


def main():
    from bourg import config

    try:
        cfg = config.load("/", schema_module="sensor_schema")
        node = Node(cfg, cfg.secrets)
    except (config.ConfigError, KeyError, ValueError) as e:
        # Nothing to drive safely here; say why, and retry rarely to spare the battery.
        print("SAFE MODE:", e)
        machine.deepsleep(600000)
        return
    sleep_ms = node.app["sample_ms"]
    try:
        sleep_ms = node.run()
    except Exception as e:  # noqa: BLE001 - a bad wake must not stop the next one
        import sys

        sys.print_exception(e)
    if machine.reset_cause() != machine.DEEPSLEEP_RESET:
        import gc

        gc.collect()  # the heap a wake needs, once per power-on (wakes stay short)
        print("heap alloc", gc.mem_alloc(), "free", gc.mem_free())
    machine.deepsleep(int(sleep_ms))  # a float (gate.next_wake_s) is a TypeError on the chip
