"""The simulated ESP32 peripherals behave like the port's: values, limits and errors."""

from __future__ import annotations

import re

import pytest

from host_tools.emulator import World
from host_tools.emulator.parts import AnalogSource, Luminaire, RegisterDevice, Switch
from host_tools.emulator.waiting import wait_until

PERIPH_MAIN = r"""
import machine, time, esp32
from machine import Pin, PWM, ADC, I2C, SoftI2C, Timer

def err(f):
    try:
        f()
        return "no error"
    except Exception as e:
        return type(e).__name__ + ": " + str(e)

print("E1", err(lambda: Pin(34, Pin.OUT)))
print("E2", err(lambda: Pin(7, Pin.IN)))
print("E3", err(lambda: Pin(40)))
print("E4", err(lambda: ADC(Pin(5))))
print("E5", err(lambda: PWM(Pin(26), freq=0)))
print("E6", err(lambda: I2C(0, sda=21, scl=22).readfrom(0x50, 1)))
print("E7", err(lambda: machine.RTC().memory(b"x" * 2049)))
print("E8", err(lambda: esp32.NVS("app").get_i32("missing")))

pwm = PWM(Pin(26), freq=1000, duty_u16=16384)
print("PWM", pwm.freq(), pwm.duty_u16(), pwm.duty())
pwm.duty(1023)

adc = ADC(Pin(34), atten=ADC.ATTN_11DB)
print("ADC", adc.read(), adc.read_uv())

i2c = SoftI2C(scl=Pin(22), sda=Pin(21))
print("SCAN", i2c.scan())
i2c.writeto_mem(0x40, 0x10, b"\x01\x02")
print("MEM", i2c.readfrom_mem(0x40, 0x0F, 4))

n = [0]
def tick(t):
    n[0] += 1
tim = Timer(0, mode=Timer.PERIODIC, period=50, callback=tick)
time.sleep_ms(330)
tim.deinit()
seen = n[0]
time.sleep_ms(150)
print("TIMER", seen, n[0])

once = [0]
def fire_once(t):
    once[0] += 1
Timer(1, mode=Timer.ONE_SHOT, period=30, callback=fire_once)
machine.lightsleep(120)
print("ONESHOT", once[0])

nvs = esp32.NVS("app")
print("NVS", nvs.get_i32("boots") if machine.reset_cause() != 1 else "first")
nvs.set_i32("boots", 7)
nvs.commit()
buf = bytearray(8)
nvs.set_blob("b", b"abc")
print("BLOB", nvs.get_blob("b", buf), bytes(buf[:3]))

print("UID", len(machine.unique_id()), machine.freq())
if machine.reset_cause() == 1:
    machine.reset()
"""


@pytest.mark.emulator_only
def test_peripherals_match_the_esp32_port(world: World) -> None:
    b = world.add_board({"device_id": "periph", "site": "hil"}, {"main.py": PERIPH_MAIN})
    lamp = b.attach(Luminaire(26, watts=40, standby_w=0.5))
    b.attach(AnalogSource(34, volts=1.2))
    mem = b.attach(RegisterDevice(0x40))
    b.start()
    b.wait_output(r"NVS 7\s+BLOB[^\n]*\s+UID 6", 10)
    out = b.output_text()
    assert "E1 ValueError: pin can only be input" in out
    assert "E2 ValueError: invalid pin (GPIO7 is used by the SPI flash)" in out
    assert "E3 ValueError: invalid pin" in out
    assert "E4 ValueError: invalid pin" in out  # machine_adc.c make_new
    assert "E5 ValueError: frequency must be from 1Hz to 40MHz" in out
    assert "E6 OSError: [Errno 19] ENODEV" in out
    assert "E7 ValueError: buffer too long" in out
    assert "E8 OSError: -4354" in out
    assert "PWM 1000 16384 256" in out
    assert lamp.level == pytest.approx(1.0) and lamp.watts == pytest.approx(40.5)
    assert 0.24 < lamp.history[0] < 0.26
    adc_raw, adc_uv = map(int, re.search(r"ADC (\d+) (\d+)", out).groups())
    # inside the 11 dB range (150-2450 mV) the calibrated read_uv is right, in whole mV;
    # raw follows ESP-IDF's line (0.806 mV a count from 142 mV at Vref 1100 mV)
    assert abs(adc_uv - 1200000) <= 1000 and adc_uv % 1000 == 0
    assert adc_raw == round((1200 - 142) * 65536 / (1100 * 196602 // 4096))
    assert "SCAN [64]" in out
    assert "MEM b'\\x00\\x01\\x02\\x00'" in out
    assert mem.writes == [(0x10, b"\x01\x02")] * 2  # main.py ran twice
    ticks, after = map(int, re.search(r"TIMER (\d+) (\d+)", out).groups())
    assert 3 <= ticks <= 7 and after == ticks  # periodic, and silent after deinit()
    assert "ONESHOT 1" in out
    assert "BLOB 3 b'abc'" in out
    assert "UID 6 160000000" in out


@pytest.mark.emulator_only
def test_pin_irq_follows_a_switch(world: World) -> None:
    main = ("import machine, time\nn = [0, 0]\n"
            "def cb(p):\n    n[p.value()] += 1\n"
            "p = machine.Pin(4, machine.Pin.IN, machine.Pin.PULL_UP)\n"
            "p.irq(cb, trigger=machine.Pin.IRQ_FALLING | machine.Pin.IRQ_RISING)\n"
            "print('armed', p.value())\n"
            "while sum(n) < 6:\n    time.sleep_ms(10)\n"
            "print('edges', n)\n")
    b = world.add_board({"device_id": "irq", "site": "hil"}, {"main.py": main})
    sw = b.attach(Switch(4))
    b.start()
    b.wait_output("armed 1", 5)
    for _ in range(3):
        sw.press()
        b.wait_output("armed", 1)
        sw.release()
    b.wait_output(r"edges \[3, 3\]", 5)


@pytest.mark.emulator_only
def test_neopixel_drives_a_ws2812_strip_through_machine_bitstream(world: World) -> None:
    """The frozen-module API of the official firmware (neopixel over machine.bitstream),
    decoded by the strip's model: GRB wire order, a frame from LED 0, bit times checked."""
    from host_tools.emulator.parts import WS2812

    main = ("import machine, neopixel\n"
            "np = neopixel.NeoPixel(machine.Pin(23), 3)\n"
            "np[0] = (0, 48, 0); np[1] = (48, 0, 0); np[2] = (30, 20, 0)\n"
            "np.write()\n"
            "print('GET', np[1], len(np))\n"
            "slow = neopixel.NeoPixel(machine.Pin(23), 3, timing=0)\n"
            "slow.fill((9, 9, 9)); slow.write()\n"
            "try:\n    machine.bitstream(machine.Pin(34), 0, (400, 850, 800, 450), b'x')\n"
            "except ValueError as e:\n    print('E1', e)\n"
            "print('done')\n")
    b = world.add_board({"device_id": "strip", "site": "hil"}, {"main.py": main})
    strip = b.attach(WS2812(23, 3))
    b.start()
    b.wait_output("done", 10)
    # the console (pty) and the pin messages (world socket) reach the host separately
    wait_until(lambda: strip.frames + strip.errors >= 2, 2, "the strip's two frames")
    assert "GET (48, 0, 0) 3" in b.output_text()
    assert strip.rgb == [(0, 48, 0), (48, 0, 0), (30, 20, 0)]
    assert strip.names() == ["green", "red", "amber"]
    # the 400 kHz timing is outside a WS2812B's windows: the strip kept its colours
    assert strip.frames == 1 and strip.errors == 1
    assert "E1 invalid pin for output" in b.output_text()


STRICT_MAIN = r"""
import machine
from machine import Pin, I2C, SoftI2C, RTC

def err(f):
    try:
        return "ok " + repr(f())
    except Exception as e:
        return type(e).__name__ + ": " + str(e)

print("R1", err(lambda: RTC(0)))
print("R2", err(lambda: RTC() is not None))
p = Pin(4, Pin.IN)
print("Q1", err(lambda: p.irq(lambda p: None, Pin.IRQ_RISING, hard=True)))
print("Q2", err(lambda: p.irq(handler=lambda p: None, trigger=Pin.IRQ_FALLING) is not None))
hw = I2C(0, scl=Pin(22), sda=Pin(21))
sw = SoftI2C(scl=Pin(22), sda=Pin(21))
print("W1", err(lambda: hw.writeto(0x40, b"\x10\x01\x02")), err(lambda: sw.writeto(0x40, b"\x10")))
print("W2", err(lambda: hw.writevto(0x40, (b"\x10", b"\x05"))), err(lambda: hw.writeto(0x40, b"")))
print("W3", err(lambda: hw.writeto_mem(0x40, 0x10, b"\x01")),
      err(lambda: hw.readfrom_mem(0x40, 0x10, 2)))
print("W4", err(lambda: hw.readfrom_into(0x40, bytearray(1))))
print("done")
"""


@pytest.mark.emulator_only
def test_argument_checks_and_return_values_match_the_port(world: World) -> None:
    """RTC() takes no id (machine_rtc.c: mp_arg_check_num 0, 0); Pin.irq takes handler,
    trigger and wake, no `hard` (machine_pin.c); I2C.writeto/writevto return the port's
    transfer result, the data length (machine_i2c.c), writeto_mem None."""
    b = world.add_board({"device_id": "strict", "site": "hil"}, {"main.py": STRICT_MAIN})
    b.attach(RegisterDevice(0x40))
    b.start()
    b.wait_output("done", 10)
    out = b.output_text()
    assert "R1 TypeError: function takes 0 positional arguments but 1 were given" in out
    assert "R2 ok True" in out
    assert "Q1 TypeError: extra keyword arguments given" in out
    assert "Q2 ok True" in out
    assert "W1 ok 3 ok 1" in out
    assert "W2 ok 2 ok 0" in out
    assert "W3 ok None ok b'\\x01\\x02'" in out
    assert "W4 ok None" in out


ADC_MAIN = r"""
from machine import ADC, Pin
a = ADC(Pin(34))  # no atten: the port's default, 11 dB
b = ADC(Pin(35), atten=ADC.ATTN_0DB)
print("A", a.read(), a.read_u16(), a.read_uv())
print("B", b.read(), b.read_uv())
print("done")
"""


@pytest.mark.emulator_only
@pytest.mark.parametrize("volts, a_raw, a_uv", [
    (0.05, 0, 142000),      # in the floor: raw 0, and read_uv says the line's 142 mV
    (1.0, None, 1000000),   # inside 150-2450 mV: calibrated
    (3.0, None, None),      # above: bent, read_uv under-reads
])
def test_adc_default_attenuation_floor_and_bend(world: World, volts: float,
                                                 a_raw: int | None, a_uv: int | None) -> None:
    """The port's ADC defaults to 11 dB (machine_adc.c: ADC_ATTEN_MAX) and, on the chip,
    reads 0 below about 142 mV and is calibrated only inside 150-2450 mV (ESP-IDF's
    suggested range for 11 dB)."""
    b = world.add_board({"device_id": "adc", "site": "hil"}, {"main.py": ADC_MAIN})
    b.attach(AnalogSource(34, volts=volts))
    b.attach(AnalogSource(35, volts=volts))
    b.start()
    b.wait_output("done", 10)
    out = b.output_text()
    raw, u16, uv = map(int, re.search(r"A (\d+) (\d+) (\d+)", out).groups())
    braw, buv = map(int, re.search(r"B (\d+) (\d+)", out).groups())
    assert u16 == (raw << 4 | raw >> 8)
    if a_raw is not None:
        assert raw == a_raw
    if a_uv is not None:
        assert abs(uv - a_uv) <= 1000
    if volts < 0.1:
        assert braw == 0 and buv == 75000  # 0 dB: the floor is the line's 75 mV
    if volts > 2.45:
        assert uv < volts * 1e6 - 200000  # outside the range the calibration is wrong
        assert braw == 4095  # 0 dB saturates above about 1.04 V


@pytest.mark.emulator_only
def test_adc2_reads_zero_while_wifi_runs(world: World) -> None:
    """ADC2 (GPIO 0, 2, 4, 12-15, 25-27) is the WiFi driver's while WiFi is active: the
    port's read helper ignores adc_oneshot_read's timeout and returns 0, with no error. ADC1
    (GPIO 32-39) is unaffected."""
    main = ("import network\nfrom machine import ADC, Pin\n"
            "a2, a1 = ADC(Pin(25)), ADC(Pin(34))\nprint('OFF', a2.read() > 0)\n"
            "network.WLAN(network.STA_IF).active(True)\n"
            "print('ON', a2.read(), a2.read_u16(), a1.read() > 0)\n")
    b = world.add_board({"device_id": "adc2", "site": "hil"}, {"main.py": main})
    b.attach(AnalogSource(25, volts=1.0))
    b.attach(AnalogSource(34, volts=1.0))
    b.start()
    b.wait_output(r"ON .*\n", 10)
    out = b.output_text()
    assert "OFF True" in out and "ON 0 0 True" in out
