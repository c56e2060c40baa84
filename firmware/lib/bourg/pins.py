"""The ESP32's GPIO rules (WROOM/WROVER module), in one place.

Why here: every pin of every config section is checked against these rules by bourg.configcheck,
on the board at boot and on the host before a deploy (host_tools.field.boardconfig runs this very
file), so a pin the host accepts is a pin the board accepts.

Uses a config spec can ask for (`"pin": use`):
  "in"    an input (switch, PIR, interrupt line)
  "out"   an output whose blip at reset does no harm (LED, buzzer, keypad row, display)
  "safe"  an output whose blip at reset acts (lamp dimming, lock relay): no boot-glitch pin
  "adc"   an analog input: ADC1 only, as ADC2 cannot be read while the radio is on
  "sda", "scl"  an I2C bus line: the one bus may be named in several sections
  anything else: any usable GPIO
"""

# GPIO 0-39 but these: the chip has no 20, 24 or 28-31
MISSING = (20, 24, 28, 29, 30, 31)
FLASH = (6, 7, 8, 9, 10, 11)  # the SPI flash: touching one crashes the board
SERIAL = (1, 3)  # UART0, the USB serial of the REPL, deploy and the boot log
INPUT_ONLY = (34, 35, 36, 37, 38, 39)
# Strapping pins (0, 2, 5, 12, 15) are sampled at reset, 1 and 3 carry the boot log, and 5,
# 14 and 15 output a PWM during boot: an output there blips at every reset.
STRAPPING = (0, 2, 5, 12, 15)
BOOT_GLITCH = (0, 1, 2, 3, 5, 12, 14, 15)
ADC1_FIRST = 32  # ADC1 is GPIO 32-39
BUSES = ("sda", "scl")


def check(gpio, use):
    """Reason GPIO `gpio` cannot serve `use`, or None."""
    if not 0 <= gpio <= 39 or gpio in MISSING:
        return "GPIO %d does not exist on the ESP32" % gpio
    if gpio in FLASH:
        return "GPIO %d drives the SPI flash and cannot be used" % gpio
    if gpio in SERIAL:
        return "GPIO %d is the USB serial (REPL, deploy, boot log)" % gpio
    if use == "safe" and gpio in BOOT_GLITCH:
        return "GPIO %d glitches at boot; use e.g. 25, 26, 27, 32 or 33" % gpio
    if use in ("out", "safe", "sda", "scl") and gpio in INPUT_ONLY:
        return "GPIO %d is input-only" % gpio
    if use == "adc" and gpio < ADC1_FIRST:
        return "GPIO %d has no ADC1 channel (ADC1: GPIO 32-39)" % gpio
    return None


class Uses:
    """The GPIOs one config claims, so that two sections cannot drive the same pin."""

    def __init__(self):
        self.by_gpio = {}
        self.warnings = []

    def claim(self, gpio, use, path):
        """Reason GPIO `gpio` cannot serve `use` at key path `path`, or None (then it is
        claimed). Only an I2C line may be claimed twice, for the same line."""
        why = check(gpio, use)
        if why:
            return why
        prev = self.by_gpio.get(gpio)
        if prev is not None:
            if prev[1] == use and use in BUSES:
                return None
            return "GPIO %d is already used by %s" % (gpio, prev[0])
        self.by_gpio[gpio] = (path, use)
        if gpio in STRAPPING:
            self.warnings.append(path + ": GPIO %d is a strapping pin; keep it free of loads "
                                 "that pull it at reset" % gpio)
        return None
