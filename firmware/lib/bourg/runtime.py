"""App entry: runtime.run(AppClass) from /main.py.

Order of things: config (or SAFE MODE), WiFi in the background, MQTT link, supervisor + WDT,
clock sync, then the app's tasks. Why a safe mode: a board with a bad config must stay
reachable and say what is wrong, not boot-loop or sit silent on a pole.

The app factory (usually a class) may define:
  SCHEMA_MODULE  name of the module that holds SCHEMA, the spec of the "app" config section
                 (see bourg.configcheck), and PINS, the spec of the "pins" section (the pin
                 names the app knows, each with its use); imported for each check, not kept
  SCHEMA, PINS   the same as objects, kept in memory (tests)
  SETTINGS_KEYS  what /settings.json may change: top-level keys, or "section.key" names
                 for one key of a section (default ("app",))
  safe_mode(err) static/class method: put outputs in their safe state (may be async)
and is called as app_factory(rt) -> app with app.tasks() -> list of coroutines, coroutine
functions (restarted on crash), or (name, either) pairs; optional app.on_settings(cfg).
"""
import json

from bourg import VERSION, compat
from bourg.backoff import Backoff
from bourg.logring import REPLY_LINES
from bourg.logring import log as _ring


class Wifi:
    """Background STA connection with timeout + backoff; a port without `network` (Unix) or
    without WiFi simply reports "not connected" and the rest of the board keeps working."""

    def __init__(self, ssid, password, ring, backoff=None, connect_timeout_ms=20000,
                 wlan=None):
        self.ssid = ssid
        self._pw = password or ""
        self._lg = ring
        self.backoff = backoff or Backoff(2000, 60000)
        self.connect_timeout_ms = connect_timeout_ms
        self._wlan = wlan if wlan is not None else self._make_wlan()
        self._started = None
        self._next = None
        self._up = False
        self._espnow_ch = None  # the site's ESP-NOW channel, once radio_on() is called
        self.attempts = 0

    @staticmethod
    def _make_wlan():
        try:
            import network

            return network.WLAN(network.STA_IF)
        except (ImportError, AttributeError, OSError, ValueError):
            return None

    def isconnected(self):
        if self._wlan is None:
            return False
        try:
            return bool(self._wlan.isconnected())
        except OSError:
            return False

    def step(self, now):
        w = self._wlan
        if w is None:
            return False
        if self.isconnected():
            if not self._up:
                self._up = True
                self._started = None
                self.backoff.reset()
                ip = "?"
                try:
                    ip = w.ifconfig()[0]
                except (AttributeError, OSError, IndexError):
                    pass
                self._lg.info("wifi", "connected to " + self.ssid + " ip " + str(ip))
                if self._espnow_ch is not None:
                    self._joined_espnow(w)
            return True
        if self._up:
            self._up = False
            self._lg.warn("wifi", "connection lost")
        if self._started is not None:
            if compat.ticks_diff(now, self._started) < self.connect_timeout_ms:
                return False
            self._started = None
            try:
                w.disconnect()
            except OSError:
                pass
            d = self.backoff.next_ms(compat.rand_float())
            self._next = compat.ticks_add(now, d)
            self._lg.warn("wifi", "no connection to " + self.ssid + "; retry in " + str(d) +
                          " ms")
            return False
        if self._next is not None and compat.ticks_diff(now, self._next) < 0:
            return False
        try:
            w.active(True)
            w.connect(self.ssid, self._pw)
            self.attempts += 1
            self._started = now
        except OSError as e:
            d = self.backoff.next_ms(compat.rand_float())
            self._next = compat.ticks_add(now, d)
            self._lg.warn("wifi", "connect error " + repr(e) + "; retry in " + str(d) + " ms")
        return False

    def radio_on(self, channel):
        """For a mains-powered board that receives ESP-NOW: STA on, on the site's ESP-NOW
        channel until it joins its AP (which then sets the channel: the AP must be on the
        same one), and WiFi power saving off now and at every (re)connection. With the
        ESP-IDF default (PM_PERFORMANCE) a joined station sleeps between the AP's beacons and
        misses ESP-NOW frames (MicroPython docs, espnow "ESPNow and Wifi Operation")."""
        w = self._wlan
        if w is None:
            return
        self._espnow_ch = channel
        w.active(True)
        try:
            if not w.isconnected():
                w.config(channel=channel)
        except (OSError, RuntimeError) as e:  # e.g. still joined after a soft reset
            self._lg.warn("wifi", "ESP-NOW channel " + str(channel) + ": " + repr(e))
        self._no_power_save()

    def _joined_espnow(self, w):
        self._no_power_save()
        try:
            ch = w.config("channel")
        except (OSError, ValueError):
            return
        if ch != self._espnow_ch:
            self._lg.warn("wifi", "the AP is on channel " + str(ch) + ", not the site's ESP-NOW "
                          "channel " + str(self._espnow_ch) + ": nodes set to it go unheard")

    def _no_power_save(self):
        try:
            self._wlan.config(pm=self._wlan.PM_NONE)
        except (OSError, RuntimeError, AttributeError) as e:
            self._lg.warn("wifi", "power saving stays on: " + repr(e))

    async def run(self, sup=None, name="wifi", period_ms=500, up_period_ms=4000):
        """Step while joining every period_ms; once joined, every up_period_ms (under the
        supervisor's window): a lost AP then shows within seconds, and the MQTT link, whose
        socket fails at once, does not wait for it."""
        while True:
            try:
                self.step(compat.ticks_ms())
            except Exception as e:  # noqa: BLE001 - never let WiFi trouble kill the loop
                self._lg.exc("wifi", "step failed", e)
            if sup is not None:
                sup.alive(name)
            await compat.asleep_ms(up_period_ms if self._up else period_ms)


class Runtime:
    """What an app receives: cfg, log, link, sup, clock, wifi; plus save_settings()."""

    def __init__(self, cfg, ring, link, sup, clock, wifi):
        self.cfg = cfg
        self.log = ring
        self.link = link
        self.sup = sup
        self.clock = clock
        self.wifi = wifi
        self.app = None

    def save_settings(self, patch):
        """Validate + persist a settings patch; returns the new Config (raises ConfigError)."""
        from bourg import config

        self.cfg = config.save_settings(self.cfg, patch)
        cb = getattr(self.app, "on_settings", None)
        if cb is not None:
            cb(self.cfg)
        return self.cfg


async def report_heap(ring, after_ms=500):
    """Once the app has settled: a technician reads this line to see the heap headroom on
    the real chip (make bench reads it on virtual boards)."""
    import gc

    await compat.asleep_ms(after_ms)
    gc.collect()
    ring.info("runtime", "heap alloc " + str(gc.mem_alloc()) + " free " + str(gc.mem_free()))


def reset_board(delay_ms=0):
    if delay_ms:
        compat.sleep_ms(delay_ms)
    try:
        import machine

        machine.reset()
    except (ImportError, AttributeError):
        raise SystemExit(1) from None


def is_coro(x):
    return x is not None and hasattr(x, "send")


async def guard(name, item, sup, ring):
    """Run one app task. A coroutine function is restarted with backoff after a crash; a bare
    coroutine cannot be restarted, so its crash marks it failed and the watchdog resets us."""
    if name not in sup.names():
        # Watched for crashes only: liveness is opt-in, by an app that registers a window for
        # the task and calls sup.alive() in it.
        sup.register(name, None)
    bo = Backoff(1000, 60000)
    while True:
        coro = item() if not is_coro(item) else item
        try:
            await coro
            ring.warn("runtime", "task " + name + " ended")
            return
        except Exception as e:  # noqa: BLE001 - report, then restart or let the WDT act
            ring.exc("runtime", "task " + name + " crashed", e)
            compat.print_exc(e)
        if is_coro(item):
            sup.fail(name)
            return
        await compat.asleep_ms(bo.next_ms(compat.rand_float()))


def install_commands(rt):
    """Built-in commands: cmd/status, cmd/log, cmd/settings (JSON patch), cmd/reboot, and
    cmd/update + cmd/chunk (bourg.ota_update)."""
    link = rt.link
    lg = rt.log

    def status(name, msg):
        st = link.status
        st["fw"] = VERSION
        st["micropython"] = micropython_version()
        st["mem_free"] = compat.mem_free()
        st["clock_valid"] = rt.clock.valid()
        link.publish("reply/status", st)

    def logs(name, msg):
        link.publish("reply/log", {"lines": lg.dump(limit=REPLY_LINES)})

    def settings(name, msg):
        from bourg.config import ConfigError

        compat.collect()  # the update reads, merges and writes whole files: start defragmented
        try:
            try:
                patch = json.loads(msg)
            except ValueError as e:
                raise ValueError("payload is not JSON (" + str(e) + ")") from None
            rt.save_settings(patch)
            link.publish("reply/settings", {"ok": True, "settings": rt.cfg.settings})
            lg.info("runtime", "settings updated")
        except (ValueError, ConfigError, OSError) as e:
            link.publish("reply/settings", {"ok": False, "error": str(e)})
            lg.warn("runtime", "settings rejected: " + str(e))
        except MemoryError:
            compat.collect()
            link.publish("reply/settings", {"ok": False, "error": "out of memory while "
                                            "applying; check reply/status, then resend"})
            lg.error("runtime", "settings update ran out of memory")

    async def reboot(name, msg):
        lg.warn("runtime", "reboot requested over MQTT")
        link.close()
        await compat.asleep_ms(500)
        reset_board()

    updater = []  # made on the first cmd/update: a board never updated never imports it

    def update(name, msg):
        if not updater:
            compat.collect()
            from bourg.ota_update import Updater

            updater.append(Updater(rt))
        updater[0].on_update(name, msg)

    def chunk(name, msg):
        if updater:
            updater[0].on_chunk(name, msg)

    link.on("status", status)
    link.on("log", logs)
    link.on("settings", settings)
    link.on("reboot", reboot)
    link.on("update", update)
    link.on("chunk", chunk)


def implementation():
    import sys

    return sys.implementation.name, sys.implementation.version


def micropython_version():
    """"1.28.0" on MicroPython (what the image reports), None on CPython."""
    name, version = implementation()
    if name != "micropython":
        return None
    return ".".join([str(n) for n in version[:3]])


async def main(app_factory, root="/", link_kw=None, wdt_timeout_ms=30000):
    """The whole boot sequence as a coroutine (tests drive it with fakes via link_kw).

    The boot itself is bourg.boot, imported for it and dropped once the app is running: its
    code runs once per boot and would otherwise hold ~3 KB of the chip's heap for good."""
    from bourg import boot

    failure = boot.start(app_factory, root, link_kw, wdt_timeout_ms)
    if failure is not None:
        await boot.safe_mode(app_factory, failure, root, link_kw)  # never returns
    del boot
    compat.forget("bourg.boot")
    while True:
        await compat.asleep_ms(60000)
        compat.collect()


def run(app_factory, root="/", **kw):
    """Blocking entry for /main.py. An unexpected crash of the runtime itself resets the board
    after a pause (on the Unix port it exits)."""
    import asyncio

    try:
        asyncio.run(main(app_factory, root, **kw))
    except KeyboardInterrupt:
        raise
    except Exception as e:  # noqa: BLE001
        compat.print_exc(e)
        _ring.error("runtime", "fatal: " + repr(e))
        reset_board(5000)
