"""The parts on a virtual board's pins and buses: one module per chip or part.

A part is a model of what is soldered to an ESP32's pins: a switch, a lamp, a sensor, a
display. It works at the level the board's real drivers do (pin levels, PWM duty, ADC
volts, I2C bytes), so the firmware's own drivers run against it unchanged.

How a part talks to its board (`Device` in base.py has the hooks):

- `board.attach(part)` puts it on the board: the board keeps it in `board.devices` and calls
  `part.attached(board)`; a part that drives inputs sets them there.
- Firmware to part: when the firmware writes an output the board calls `on_pin(gpio, level)`
  (`on_pwm`, `on_bitstream` for PWM and machine.bitstream), `analog(gpio)` when it samples
  the ADC (the first part that answers gives the volts), and, for the part whose
  `on_i2c_bus(sda, scl)` is true and whose `i2c_addr` is the address, `i2c_write(data)` /
  `i2c_read(n)`; no part at an address is an ENODEV, as no ACK is on a real bus.
- Part to firmware: `self.board.drive(gpio, level)` drives an input (None lets it float, its
  pull resistor decides); an edge reaches the firmware's `Pin.irq` and can wake a board in
  deep sleep (ext0/ext1).
- The board calls `on_reset()` when its MCU resets or loses power (its outputs float), and
  `tick(now)` about every 20 ms while it has power, for parts that work on their own.

The board calls these from the world's thread (host_tools/emulator/world.py); a test calls a
part's own methods (`press()`, `type("1234#")`, `detect()`) from its thread.
"""

from host_tools.emulator.parts.analog import AnalogSource, LampCurrent
from host_tools.emulator.parts.base import Device, I2CDevice, RegisterDevice
from host_tools.emulator.parts.bh1750 import BH1750
from host_tools.emulator.parts.ds3231 import DS3231
from host_tools.emulator.parts.hmc5883l import HMC5883L
from host_tools.emulator.parts.keypad import Keypad, KeypadError
from host_tools.emulator.parts.led import Led, Luminaire
from host_tools.emulator.parts.lis2mdl import LIS2MDL
from host_tools.emulator.parts.lock import Lock
from host_tools.emulator.parts.magnetometer import Field, Magnetometer
from host_tools.emulator.parts.qmc5883l import QMC5883L
from host_tools.emulator.parts.switch import Pir, Switch
from host_tools.emulator.parts.tm1637 import TM1637
from host_tools.emulator.parts.tmp102 import TMP102
from host_tools.emulator.parts.ws2812 import WS2812

__all__ = [
    "Device", "I2CDevice", "RegisterDevice",
    "Switch", "Pir", "Led", "Luminaire", "AnalogSource", "LampCurrent", "Lock", "Keypad",
    "KeypadError",
    "TMP102", "BH1750", "DS3231", "TM1637", "WS2812",
    "Magnetometer", "Field", "QMC5883L", "HMC5883L", "LIS2MDL",
]
