"""Locker bank app: keypad, locks, doors, buzzer/LED, DS3231 and compartment thermometers,
wired to the pure Bank (bank.py) and the runtime. Works with no network at all; with one, the
audit log and alarms go out over MQTT as well.

Order of an unlock: the Bank marks the code pending, this app saves the state atomically,
then pulses the lock. See bank.py for why that order survives power cuts.
"""
import asyncio
import time

import bank as bank_mod
import lockout
import machine
from bourg import compat, store

STATE = "/data/locker.json"
AUDIT = "/data/audit.log"


def _unix(year, month, day, hour, minute, second):
    """Unix seconds of a UTC date (days from the civil calendar; no epoch of the port's)."""
    y = year - (1 if month <= 2 else 0)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return (era * 146097 + doe - 719468) * 86400 + hour * 3600 + minute * 60 + second


class Locker:
    SCHEMA_MODULE = "locker_schema"  # imported by bourg.config for a check, then dropped
    # cmd/settings may change timings, never the compartments or a pin: a lock's relay
    # handed to the buzzer, or two compartments' numbers swapped, would open a door to
    # whoever can publish on the bank's topics (docs/locker.md)
    SETTINGS_KEYS = ("app.open_window_s", "app.door_alarm_s", "app.entry_timeout_ms",
                     "app.temps_every_s")

    @staticmethod
    def safe_mode(err):
        pass  # locks are normally closed: doing nothing keeps every compartment shut

    def __init__(self, rt):
        self.rt = rt
        self.uptime = compat.Uptime()  # the keypad entry compares times with plain arithmetic
        cfg = rt.cfg
        app = cfg["app"]
        self.app = app
        key = bytes.fromhex(cfg.secrets["bank_key"])  # checked at load (locker_schema.SECRETS)
        comps = {}
        for c in app["compartments"]:
            comps[c["n"]] = {"max_c": c.get("max_c"), "max_s": c["max_minutes"] * 60}
        P = machine.Pin
        self.locks = {c["n"]: P(c["lock"], P.OUT, value=0) for c in app["compartments"]}
        self.doors = {c["n"]: P(c["door"], P.IN, P.PULL_UP) for c in app["compartments"]}
        self.temp_addr = {c["n"]: c["temp_addr"] for c in app["compartments"]
                          if "temp_addr" in c}
        self.buzzer = P(app["buzzer"], P.OUT, value=0) if "buzzer" in app else None
        self.led = P(app["led"], P.OUT, value=0) if "led" in app else None
        self.flag = asyncio.ThreadSafeFlag()
        from drivers.keypad import Keypad

        self.kp = Keypad(app["rows"], app["cols"], flag=self.flag)
        self.entry = lockout.Entry(timeout_ms=app["entry_timeout_ms"])
        pins = cfg["pins"]
        self.i2c = None
        if "sda" in pins and "scl" in pins:
            self.i2c = machine.I2C(0, sda=P(pins["sda"]), scl=P(pins["scl"]), freq=100000)
        self.rtc = self._rtc()
        store.ensure_dir("/data")
        self.audit = store.Journal(AUDIT, max_records=500, max_bytes=65536)
        saved = store.load(STATE, None)
        self.bank = bank_mod.Bank(key, cfg.device_id, comps, saved, app["open_window_s"],
                                  app["door_alarm_s"])
        now = self.read_clock()
        self.bank.boot({n: self._door_open(n) for n in self.doors}, now, self.bank.clock_ok,
                       self.uptime() // 1000)
        self._uncollected = []
        self.coldlog = bank_mod.ColdLog() if self.temp_addr else None
        self._cold_at = self.uptime()
        self._cold_n = 0
        self._apply()
        rt.log.info("locker", "bank " + cfg.device_id + " with " + str(len(comps)) +
                    " compartments")

    # ---- hardware -------------------------------------------------------------------------
    def _rtc(self):
        if self.i2c is None:
            return None
        from drivers.ds3231 import restore

        return restore(self.i2c)[0]

    def _ds3231_s(self):
        if self.rtc is None:
            return None
        try:
            dt = self.rtc.datetime()
        except OSError:
            return None
        if dt is None:
            return None
        return _unix(dt[0], dt[1], dt[2], dt[3], dt[4], dt[5])

    def read_clock(self):
        """The time the bank believes, given to it (bank.clock_reading says which clock)."""
        b = self.bank
        clock = self.rt.clock
        sys_s = clock.unix() if clock.valid() else None
        now, ok, disagree = bank_mod.clock_reading(self._ds3231_s(), sys_s, clock.synced,
                                                   b.high_s)
        b.set_clock(now, ok)
        b.sntp_disagrees(disagree, sys_s if disagree else None)
        return now

    def clock_ok(self):
        return self.bank.clock_ok

    def now(self):
        return self.bank.now()

    def _door_open(self, n):
        return self.doors[n].value() == 1  # the switch closes to ground while the door is shut

    def _temps(self):
        out = {}
        if self.i2c is None:
            return out
        from drivers.tmp102 import TMP102

        for n, a in self.temp_addr.items():
            try:
                out[n] = TMP102(self.i2c, a).celsius()
            except OSError:
                out[n] = None
        return out

    def _log_cold(self, temps, up):
        """The cold chain's figures each temps_every_s, as the `temps` state (the console
        keeps them as a series; the audit keeps every excursion whatever reaches it)."""
        log = self.coldlog
        if log is None:
            return
        log.add(temps)
        if up - self._cold_at >= self.app["temps_every_s"] * 1000:
            self._cold_at = up
            self._cold_n += 1
            limits = {n: s["max_c"] for n, s in self.bank.comps.items()}
            # the period's end on the bank's clock (None until it has one) and its number
            # since boot: a console takes a copy sent again on reconnect for what it is
            b = self.bank
            self.rt.link.publish_state("temps", {
                "every_s": self.app["temps_every_s"], "n": self._cold_n,
                "t": b.now() if b.clock_ok else None, "c": log.take(limits)})

    # ---- actions --------------------------------------------------------------------------
    def _apply(self):
        b = self.bank
        acts = b.take_actions()
        if b.dirty:
            # before any lock moves: an unlock is on flash as pending
            store.save(STATE, b.state())
            b.dirty = False
        link = self.rt.link
        for a in acts:
            kind = a[0]
            if kind == "audit":
                try:
                    self.audit.append(a[1])
                except (OSError, ValueError) as e:
                    self.rt.log.warn("locker", "audit: " + repr(e))
                link.publish_event("audit", a[1])
            elif kind == "unlock":
                asyncio.create_task(self._pulse(a[1]))
            elif kind == "beep":
                asyncio.create_task(self._beep(a[1]))
            elif kind == "alarm":
                ev = {"alarm": a[1], "active": a[2]}
                ev.update(a[3])
                link.publish_event("alarm", ev)
                self.rt.log.warn("locker", "alarm " + a[1] + (" on" if a[2] else " off"))
                link.publish_state("alarms", {"active": sorted(b.alarms)})
            elif kind == "set_time":
                t = time.gmtime(a[1] - 946684800 if time.gmtime(0)[0] == 2000 else a[1])
                machine.RTC().datetime((t[0], t[1], t[2], t[6], t[3], t[4], t[5], 0))
                if self.rtc is not None:
                    try:
                        self.rtc.set(t[0], t[1], t[2], t[3], t[4], t[5], t[6])
                    except OSError:
                        pass
                self.rt.log.info("locker", "clock set by an admin code")
            elif kind == "armed":
                link.publish_state("compartments", b.summary())
        if acts:
            link.publish_state("compartments", b.summary())

    async def _pulse(self, n):
        p = self.locks[n]
        p.value(1)
        await asyncio.sleep_ms(self.app["lock_pulse_ms"])
        p.value(0)

    async def _beep(self, what):
        pattern = {"ok": (400,), "no": (80, 80, 80), "wait": (80, 400, 80)}.get(what, (80,))
        for i, ms in enumerate(pattern):
            on = i % 2 == 0
            if self.buzzer is not None:
                self.buzzer.value(1 if on else 0)
            if self.led is not None and what == "ok":
                self.led.value(1 if on else 0)
            await asyncio.sleep_ms(ms)
        if self.buzzer is not None:
            self.buzzer.value(0)
        if self.led is not None:
            self.led.value(0)

    # ---- tasks ----------------------------------------------------------------------------
    def tasks(self):
        return [("keypad", self.keypad_task), ("tick", self.tick_task)]

    async def keypad_task(self):
        """One key per press. The wait is for the release of the key just read, not of every
        key: a fast typist presses the next key before letting go of the last (rollover), and
        that key is read as soon as the last one is up."""
        while True:
            if not self.kp.any_down():
                try:
                    await asyncio.wait_for_ms(self.flag.wait(), 1000)
                except asyncio.TimeoutError:
                    continue
            await asyncio.sleep_ms(20)  # debounce: still pressed after 20 ms
            k = self.kp.scan()
            if k is None or self.kp.scan() != k:  # two scans must agree
                continue
            r = self.entry.key(k, self.uptime())
            if r is not None:
                self._entry(r)
            up = 0
            while up < 3:  # released for 3 reads in a row
                await asyncio.sleep_ms(20)
                up = 0 if self.kp.held(k) else up + 1

    def _entry(self, r):
        b = self.bank
        if r[0] == "code":
            self.read_clock()
            res = b.code(r[1], up_s=self.uptime() // 1000)
            self.rt.log.info("locker", "code: " + res)
        else:
            b.cleared(r[1], self.now())
        self._apply()

    async def tick_task(self):
        while True:
            b = self.bank
            self.read_clock()
            now = b.now()
            up = self.uptime()  # read every second, so it never misses a ticks wrap
            for n in self.doors:
                b.door(n, self._door_open(n), now)
            temps = self._temps()
            b.tick(None, temps)
            self._log_cold(temps, up)
            if self.entry.expire(up):
                b.cleared("timeout", now)
            unc = b.uncollected(now) if self.clock_ok() else []
            if unc != self._uncollected:
                # the host answers with a retrieve code for the merchant (bourg locker issue
                # --kind retrieve)
                self._uncollected = unc
                self.rt.link.publish_state("uncollected", {"compartments": unc})
                if unc:
                    self.rt.link.publish_event("uncollected", {"compartments": unc})
            self._apply()
            await asyncio.sleep_ms(500)
