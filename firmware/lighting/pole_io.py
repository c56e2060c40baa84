"""The pole's hardware: dimming output, presence inputs, door switch, lamp-current and LDR
ADCs, BH1750 and DS3231 on I2C. Thin on purpose: every decision is in pole.py.

Wiring (see docs/lighting.md): the PWM drives an open-collector stage that pulls the
driver's 0-10 V line down, against the driver's own pull-up. A reset or unpowered MCU leaves
the GPIO floating, the transistor off and the line at 10 V: full light. So the PWM runs
inverted (invert=True in config) and 100 % is duty 0 at the pin.
"""
import machine


class Output:
    def __init__(self, gpio, freq, invert, level):
        self.max = 65535
        self.pwm = machine.PWM(machine.Pin(gpio), freq=freq, duty_u16=self._duty(level),
                               invert=invert)
        self.level = level

    def _duty(self, level):
        return int(level * 655.35 + 0.5)

    def set(self, level):
        if level != self.level:
            self.level = level
            self.pwm.duty_u16(self._duty(level))


class Inputs:
    """Presence inputs and the door switch on interrupts; handlers only set a flag (the
    asyncio side reads the pins), as an ESP32 IRQ must not allocate."""

    def __init__(self, pins, flag):
        self.flag = flag
        P = machine.Pin
        self.pir = [P(pins["pir"], P.IN, P.PULL_DOWN)]
        if "pir2" in pins:
            self.pir.append(P(pins["pir2"], P.IN, P.PULL_DOWN))
        self.door = P(pins["door"], P.IN, P.PULL_UP) if "door" in pins else None
        for p in self.pir:
            p.irq(self._irq, P.IRQ_RISING | P.IRQ_FALLING)
        if self.door is not None:
            self.door.irq(self._irq, P.IRQ_RISING | P.IRQ_FALLING)

    def _irq(self, pin):
        self.flag.set()

    def presence(self, i):
        return self.pir[i].value()

    def door_open(self):
        """The switch closes to ground while the door is shut: high = open (or cut wire)."""
        return None if self.door is None else self.door.value() == 1


# The range of the ESP32's ADC at 11 dB where its eFuse calibration holds (Espressif's
# suggested 150-2450 mV): below it the chip reads 0 (read_uv() then says about 142 mV),
# above it the reading bends. A signal meant to be measured must stay inside.
V_LO = 0.15
V_HI = 2.45


class Analog:
    def __init__(self, gpio):
        self.adc = machine.ADC(machine.Pin(gpio), atten=machine.ADC.ATTN_11DB)

    def volts(self, n=4):
        s = 0
        for _ in range(n):
            s += self.adc.read_uv()
        return s / n / 1000000


class LampCurrent(Analog):
    """The lamp current sensor's output rides on an offset (zero_v at no current, inside the
    ADC's linear range) so that standby and dimmed currents are measured, not lost in the
    floor: amps = (V - zero_v) * amps_per_volt. None when the reading is outside the range
    (offset lost, wire cut, or a current beyond the scale): no judgement on the lamp."""

    def __init__(self, gpio, zero_v, amps_per_volt):
        super().__init__(gpio)
        self.zero_v = zero_v
        self.apv = amps_per_volt

    def amps(self):
        v = self.volts()
        if v < V_LO or v > V_HI:
            return None
        return max(0.0, v - self.zero_v) * self.apv


class Ldr(Analog):
    """LDR from 3.3 V to the ADC, fixed resistor to ground: R = Rf * (3.3 - V) / V; lux from
    the LDR's 10-lux resistance and gamma (datasheet curve log R ~ -gamma log lux). Only
    V_LO..V_HI is measured (with the default 3.3 kOhm and a 20 kOhm-at-10-lux LDR, about
    2-600 lux): darker reads 0 lux, brighter 100000."""

    def __init__(self, gpio, fixed_ohm, r10_ohm, gamma):
        super().__init__(gpio)
        self.fixed = fixed_ohm
        self.r10 = r10_ohm
        self.gamma = gamma

    def start(self):
        pass  # the same interface as the BH1750: start(), then result()

    def result(self):
        return self.lux()

    def lux(self):
        v = self.volts()
        if v < V_LO:
            return 0.0
        if v > V_HI:
            return 100000.0
        r = self.fixed * (3.3 - v) / v
        return 10 * (self.r10 / r) ** (1 / self.gamma)
