"""Field-test firmware: the runtime plus a button, a LED and a TMP102.

Why: a technician (and CI) needs a small app that exercises every part of a board and of the
runtime end to end. It counts button presses, blinks a heartbeat, reads the temperature,
publishes a numbered tick event (to prove nothing is lost through outages) and answers
commands.
"""
import asyncio

import machine

from bourg import compat


class FieldTest:
    SCHEMA_MODULE = "fieldtest_schema"  # imported by bourg.config for a check, then dropped

    @staticmethod
    def safe_mode(err):
        # Nothing dangerous on this board: the LED shows the fault by staying on.
        machine.Pin(25, machine.Pin.OUT, value=1)

    def __init__(self, rt):
        self.rt = rt
        self.uptime = compat.Uptime()
        cfg = rt.cfg
        pins = cfg["pins"]
        app = cfg["app"]
        self.tick_ms = app["tick_ms"]
        self.telemetry_ms = app["telemetry_ms"]
        self.led = machine.Pin(pins.get("led", 25), machine.Pin.OUT, value=0)
        self.button = machine.Pin(pins.get("button", 4), machine.Pin.IN, machine.Pin.PULL_UP)
        self.presses = 0
        self._pressed = asyncio.ThreadSafeFlag()
        self.button.irq(self._irq, trigger=machine.Pin.IRQ_FALLING)
        self.sensor = None
        if "sda" in pins and "scl" in pins:
            from drivers.tmp102 import TMP102

            i2c = machine.I2C(0, sda=pins["sda"], scl=pins["scl"], freq=100000)
            s = TMP102(i2c, app["tmp102_addr"])
            if s.present():
                self.sensor = s
            else:
                rt.log.warn("app", "no TMP102 at " + hex(app["tmp102_addr"]))
        rt.link.on("led", self._cmd_led)

    def _irq(self, pin):
        self._pressed.set()

    def _cmd_led(self, name, msg):
        self.led.value(1 if msg in (b"1", b"on", b"true") else 0)
        self.rt.link.publish("reply/led", {"led": self.led.value()})

    def tasks(self):
        return [("button", self.button_task), ("tick", self.tick_task),
                ("telemetry", self.telemetry_task), ("heartbeat", self.heartbeat_task)]

    async def button_task(self):
        while True:
            await self._pressed.wait()
            await asyncio.sleep_ms(30)  # debounce: the contact must still be closed
            if self.button.value() == 0:
                self.presses += 1
                self.rt.log.info("app", "button " + str(self.presses))
                self.rt.link.publish_event("button", {"presses": self.presses})

    async def tick_task(self):
        n = 0
        while True:
            await asyncio.sleep_ms(self.tick_ms)
            n += 1
            self.rt.link.publish_event("tick", {"n": n})

    async def telemetry_task(self):
        while True:
            t = None
            if self.sensor is not None:
                try:
                    t = self.sensor.celsius()
                except OSError as e:
                    self.rt.log.warn("app", "TMP102 read failed: " + repr(e))
            self.rt.link.publish_state("telemetry", {
                "temp_c": t, "presses": self.presses, "mem_free": compat.mem_free(),
                "uptime_s": self.uptime() // 1000, "link": self.rt.link.status["queue"]})
            await asyncio.sleep_ms(self.telemetry_ms)

    async def heartbeat_task(self):
        while True:
            self.led.value(1)
            await asyncio.sleep_ms(50)
            self.led.value(0)
            await asyncio.sleep_ms(1950)
