"""Street-light pole app: wires the hardware (pole_io), the radio and the runtime's MQTT link
to the pure pole core (pole.py). See docs/lighting.md for topics, settings and wiring.

Why one control task and a flag: interrupts and received frames only set a ThreadSafeFlag;
the control task advances the core to "now", writes the PWM and sleeps until the core's next
deadline (ramp step, hold end, debounce), so an edge reaches the output within a few ms.
"""
import asyncio
import json

import machine
import nightprofile
import pole as pole_mod
import pole_io
import schedule
from bourg import compat, store
from bourg.auth import BCAST

STATE_FILE = "/data/lighting.json"


def _read_safe_pin():
    try:
        with open("/config.json") as f:
            cfg = json.load(f)
        return cfg["pins"]["pwm"], cfg.get("app", {}).get("pwm_invert", True)
    except Exception:  # noqa: BLE001 - safe mode must not fail
        return None, True


class Pole:
    SCHEMA_MODULE = "pole_schema"  # imported by bourg.config for a check, then dropped

    @staticmethod
    def safe_mode(err):
        # Full light. If even the pin is unknown the GPIO floats and the 0-10 V pull-up
        # gives full light anyway.
        from bourg import pins as gpio_rules  # only here: the config checker drops it

        gpio, invert = _read_safe_pin()
        if isinstance(gpio, int) and gpio_rules.check(gpio, "safe") is None:
            machine.PWM(machine.Pin(gpio), freq=1000, duty_u16=65535, invert=invert)

    def __init__(self, rt):
        self.rt = rt
        cfg = rt.cfg
        pins = cfg["pins"]
        app = cfg["app"]
        key = bytes.fromhex(cfg.secrets["wave_key"])  # checked at load (pole_schema.SECRETS)
        self.app = app
        self.now = compat.Uptime()
        now = self.now()
        saved = store.load(STATE_FILE, {}) or {}
        self.epoch = int(saved.get("epoch", 0)) + 1
        store.ensure_dir("/data")
        store.save(STATE_FILE, {"epoch": self.epoch, "meter": saved.get("meter")})
        self.out = pole_io.Output(pins["pwm"], app["pwm_freq"], app["pwm_invert"],
                                  app["dimmer"]["safe_level"])
        import network

        mac = network.WLAN(network.STA_IF).config("mac")
        self.core = pole_mod.Pole(app, mac, key, self.epoch, now, saved.get("meter"),
                                  2 if "pir2" in pins else 1)
        self.flag = asyncio.ThreadSafeFlag()
        self.io = pole_io.Inputs(pins, self.flag)
        lamp = app["lamp"]
        self.lamp_adc = pole_io.LampCurrent(pins["lamp_adc"], lamp["zero_v"],
                                            lamp["amps_per_volt"]) \
            if "lamp_adc" in pins else None
        self.i2c = None
        if "sda" in pins and "scl" in pins:
            self.i2c = machine.I2C(0, sda=machine.Pin(pins["sda"]),
                                   scl=machine.Pin(pins["scl"]), freq=100000)
        self.light = self._light_sensor(pins, app["light"])
        self.rtc = self._rtc()
        self.sched = None
        self.luxsw = None
        self.lux = None
        self.is_day = None
        self._apply_settings(app)
        self._door = None
        self._shown = None
        self.safe_until = None
        if machine.reset_cause() == machine.WDT_RESET and app["safe_after_wdt_s"]:
            self.safe_until = now + app["safe_after_wdt_s"] * 1000
            self.core.fault("wdt", True, now)
            rt.log.warn("pole", "watchdog reset: safe level for " +
                        str(app["safe_after_wdt_s"]) + " s")
        self.radio = None
        try:
            import aioespnow

            # the site's ESP-NOW channel until WiFi joins the AP (on the same channel), and
            # no WiFi power saving: a dozing radio misses its neighbours' frames
            rt.wifi.radio_on(rt.cfg["network"]["espnow_channel"])
            self.radio = aioespnow.AIOESPNow()
            self.radio.active(True)
            self.radio.add_peer(BCAST)
        except (ImportError, OSError) as e:
            rt.log.warn("pole", "no ESP-NOW: " + repr(e))
            self.radio = None
        rt.link.on("override", self._cmd_override)

    # ---- setup --------------------------------------------------------------------------
    def _light_sensor(self, pins, light):
        kind = light["sensor"]
        if kind in ("auto", "bh1750") and self.i2c is not None:
            from drivers.bh1750 import ADDRESSES, BH1750

            for a in ADDRESSES:
                s = BH1750(self.i2c, a)
                if s.present():
                    self.rt.log.info("pole", "BH1750 at " + hex(a))
                    return s
            if kind == "bh1750":
                self.rt.log.warn("pole", "no BH1750 found")
        if kind in ("auto", "ldr") and "ldr_adc" in pins:
            return pole_io.Ldr(pins["ldr_adc"], light["ldr_fixed_ohm"], light["ldr_r10_ohm"],
                               light["ldr_gamma"])
        return None

    def _rtc(self):
        if self.i2c is None:
            return None
        from drivers.ds3231 import restore

        r, done = restore(self.i2c, self.rt.clock)
        if r is None:  # no DS3231 on this pole: its driver's heap given back
            compat.forget("drivers.ds3231")
        elif done:
            self.rt.log.info("pole", "clock set from DS3231")
        elif not self.rt.clock.valid():
            self.rt.log.warn("pole", "DS3231 lost its time; waiting for NTP")
        return r

    def _apply_settings(self, app):
        import profilecheck  # for this check only: dropped after, its heap given back

        try:
            prof = profilecheck.validate(app["profile"])
        finally:
            compat.forget("profilecheck")
        self.sched = schedule.Schedule(prof, app["lat"], app["lon"])
        lux = prof.get("lux") or {"on_below": 20, "off_above": 50, "dwell_s": 60}
        if self.light is not None:
            self.luxsw = nightprofile.LuxSwitch(lux["on_below"], lux["off_above"],
                                                lux["dwell_s"] * 1000)

    def on_settings(self, cfg):
        """Settings patch accepted by the runtime (validated and saved): apply at once."""
        app = cfg["app"]
        self.app = app
        self._apply_settings(app)
        d = app["dimmer"]
        dim = self.core.dim
        dim.ramp_up_ms, dim.ramp_down_ms, dim.hold_ms = d["ramp_up_ms"], d["ramp_down_ms"], \
            d["hold_ms"]
        self.core.entry_level = app["entry_level"]
        w = self.core.wave
        wc = app["wave"]
        w.nb_hops, w.nb_level, w.ahead_level = wc["nb_hops"], wc["nb_level"], wc["ahead_level"]
        self._schedule_now()
        self.flag.set()

    def _cmd_override(self, name, msg):
        try:
            level, until = nightprofile.parse_override(json.loads(msg), self.now())
        except (ValueError, nightprofile.ProfileError) as e:
            self.rt.link.publish("reply/override", {"ok": False, "error": str(e)})
            return
        self.core.override(level, until, self.now())
        self.flag.set()
        self.rt.log.info("pole", "override " + str(level))
        self.rt.link.publish("reply/override", {"ok": True, "level": level})

    def tasks(self):
        t = [("control", self.control_task), ("schedule", self.schedule_task),
             ("monitor", self.monitor_task)]  # type: list
        if self.radio is not None:
            t.append(("radio", self.radio_task))
        return t

    # ---- control ------------------------------------------------------------------------
    def _apply(self, now):
        core = self.core
        for i in range(len(self.io.pir)):
            core.sensor(i, self.io.presence(i), now)
        lvl = core.step(now)
        self.out.set(lvl)
        frames = core.take_tx()
        if frames and self.radio is not None:
            for f in frames:
                try:
                    self.radio.send(BCAST, f, False)
                except OSError as e:
                    self.rt.log.warn("pole", "ESP-NOW send: " + repr(e))
        return lvl

    async def control_task(self):
        while True:
            now = self.now()
            self._apply(now)
            nxt = self.core.next_ms(now)
            wait = 1000 if nxt is None else max(0, min(1000, nxt - now))
            if wait:
                try:
                    await asyncio.wait_for_ms(self.flag.wait(), wait)
                except asyncio.TimeoutError:
                    pass

    async def radio_task(self):
        async for mac, msg in self.radio:
            if msg:
                now = self.now()
                self.core.radio(msg, now)
                self._apply(now)
                self.flag.set()

    # ---- schedule -----------------------------------------------------------------------
    def _schedule_now(self):
        now = self.now()
        core = self.core
        unix = self.rt.clock.unix()
        dark = None
        if self.luxsw is not None and self.lux is not None:
            dark = self.luxsw.update(self.lux, now)
        period = None
        if unix is not None:
            period = self.sched.lookup(unix)
            core.clock(unix // 3600)
        todo = nightprofile.plan(unix is not None, period, dark, self.app["fallback"])
        # blind (a sensor that failed, a clock never set): the fail-safe level, at boot and
        # whenever it comes to that later, never the last levels
        core.fault("blind", todo is None, now)
        if todo is None:
            return
        on, base, pres = todo
        self.is_day = nightprofile.daylight(unix is not None, period, self.lux,
                                            self.app["light"]["day_lux"])
        core.levels(base, pres, now, on)
        if "boot" in core.dim.faults:
            core.ready(now)
            self.rt.log.info("pole", "schedule in force: " + str(period and period[2]))
        self.flag.set()

    async def schedule_task(self):
        while True:
            if self.light is not None:
                try:
                    self.light.start()
                    await asyncio.sleep_ms(180)
                    self.lux = self.light.result()
                except OSError as e:
                    self.lux = None
                    self.rt.log.warn("pole", "light sensor: " + repr(e))
            self._schedule_now()
            if self.rtc is not None and self.rt.clock.synced and not getattr(self, "_rtc_set",
                                                                             False):
                import time

                t = time.gmtime()
                try:
                    self.rtc.set(t[0], t[1], t[2], t[3], t[4], t[5], t[6])
                    self._rtc_set = True
                    self.rt.log.info("pole", "DS3231 set from NTP")
                except OSError as e:
                    self.rt.log.warn("pole", "DS3231 write: " + repr(e))
            await asyncio.sleep_ms(5000)

    # ---- monitoring ---------------------------------------------------------------------
    async def monitor_task(self):
        app = self.app
        link = self.rt.link
        last_energy = last_persist = last_state = -10 ** 9
        saved = None  # the meter's counters as last saved to flash
        while True:
            now = self.now()
            core = self.core
            if self.safe_until is not None and now >= self.safe_until:
                self.safe_until = None
                core.fault("wdt", False, now)
                self.flag.set()
            d = self.io.door_open()
            if d is not None and d != self._door:
                self._door = d
                core.door(d, now)
            if self.lamp_adc is not None:
                core.lamp_sample(self.lamp_adc.amps(), self.is_day, now)
            for name, active, detail in core.take_alarms():
                ev = {"alarm": name, "active": active}
                ev.update(detail)
                link.publish_event("alarm", ev)
                self.rt.log.warn("pole", "alarm " + name + (" on" if active else " off"))
                link.publish_state("alarms", {"active": sorted(core.alarms)})
            for hour, count in core.take_traffic():
                link.publish_event("traffic", {"hour": hour * 3600, "count": count})
            st = core.state(now)
            st.pop("level")
            key = (st["target"], st["mode"], st["reason"], st["presence"], len(st["alarms"]))
            if key != self._shown or now - last_state >= app["state_ms"]:
                self._shown = key
                last_state = now
                st["level"] = st["target"]
                st["lux"] = None if self.lux is None else int(self.lux)
                link.publish_state("state", st)
            if now - last_persist >= app["persist_s"] * 1000:
                last_persist = now
                core.meter.advance(core.level(now), now)
                try:
                    store.save(STATE_FILE, {"epoch": self.epoch, "meter": core.meter.to_dict()})
                    saved = core.meter.state()
                except OSError as e:
                    self.rt.log.warn("pole", "persist: " + repr(e))
            if now - last_energy >= app["energy_ms"]:
                last_energy = now
                core.meter.advance(core.level(now), now)
                # the counters as saved: a power cut never takes what was published back
                e = dict(saved) if saved is not None else core.meter.state()
                e["power_w"] = round(core.meter.power_w(core.level(now)), 2)
                e["detections"] = core.pres.detections
                link.publish_state("energy", e)
            await asyncio.sleep_ms(1000)
