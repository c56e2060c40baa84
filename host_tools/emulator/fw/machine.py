"""machine for a virtual ESP32: the pins, buses and timers of the chip, wired to the world.

Numbers, defaults and error messages follow the MicroPython ESP32 port, so drivers and apps that
run here run on the board. The peripherals themselves (what is on the pins and buses) live in the
world process; see host_tools/emulator/parts/.
"""
from umachine import mem8, mem16, mem32, time_pulse_us  # noqa: F401
import _world

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5
PIN_WAKE = EXT0_WAKE = 2
EXT1_WAKE = 3
TIMER_WAKE = 4
TOUCHPAD_WAKE = 5
ULP_WAKE = 6

# GPIOs that exist on an ESP32 (WROOM/WROVER); 6-11 drive the SPI flash, 34-39 are input-only.
_GPIOS = (0, 1, 2, 3, 4, 5, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 23, 25, 26, 27, 32, 33,
          34, 35, 36, 37, 38, 39)
_FLASH_GPIOS = (6, 7, 8, 9, 10, 11)
_INPUT_ONLY = (34, 35, 36, 37, 38, 39)
_ADC1 = (32, 33, 34, 35, 36, 37, 38, 39)
_ADC2 = (0, 2, 4, 12, 13, 14, 15, 25, 26, 27)


def _gpio(pin):
    if isinstance(pin, Pin):
        return pin._id
    if not isinstance(pin, int):
        raise TypeError("can't convert %s to int" % type(pin).__name__)
    if pin in _FLASH_GPIOS:
        # The port accepts these, and the chip then crashes: refuse them loudly instead.
        raise ValueError("invalid pin (GPIO%d is used by the SPI flash)" % pin)
    if pin not in _GPIOS:
        raise ValueError("invalid pin")
    return pin


_written = [False]  # a pin output changed since the last read


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_DOWN = 1
    PULL_UP = 2
    PULL_HOLD = 4
    IRQ_RISING = 1
    IRQ_FALLING = 2
    WAKE_LOW = 4
    WAKE_HIGH = 5
    DRIVE_0 = 0
    DRIVE_1 = 1
    DRIVE_2 = 2
    DRIVE_3 = 3

    _table = {}

    def __new__(cls, id, *args, **kw):
        gpio = _gpio(id)
        p = Pin._table.get(gpio)
        if p is None:
            p = object.__new__(cls)
            p._id = gpio
            p._mode = None
            p._pull = None
            p._out = 0
            p._irq = None
            p._trigger = 0
            Pin._table[gpio] = p
        return p

    def __init__(self, id, mode=-1, pull=-1, *, value=None, drive=None, hold=None):
        self.init(mode, pull, value=value, drive=drive, hold=hold)

    def init(self, mode=-1, pull=-1, *, value=None, drive=None, hold=None):
        if mode is not None and mode != -1:
            if mode not in (Pin.IN, Pin.OUT, Pin.OPEN_DRAIN):
                raise ValueError("invalid pin mode")
            if mode != Pin.IN and self._id in _INPUT_ONLY:
                raise ValueError("pin can only be input")
            self._mode = mode
        if pull != -1:
            if pull is not None and pull not in (Pin.PULL_UP, Pin.PULL_DOWN):
                raise ValueError("invalid pull")
            if pull is not None and self._id in _INPUT_ONLY:
                # GPIO34-39 have no internal pull resistors; the port silently ignores it.
                pull = None
            self._pull = pull
        if value is not None:
            self._out = 1 if value else 0
        self._publish()

    def _publish(self):
        _world.send("pin", pin=self._id, mode=self._mode, pull=self._pull, v=self._out)
        _written[0] = True

    def _level(self):
        ext = _world.inputs.get(self._id)
        if self._mode == Pin.OUT:
            return self._out
        if self._mode == Pin.OPEN_DRAIN and self._out == 0:
            return 0
        if ext is not None:
            return ext
        if self._pull == Pin.PULL_UP:
            return 1
        return 0

    def value(self, v=None):
        if v is None:
            if _written[0]:
                # On the chip a read sees what an earlier write caused (a keypad row driven
                # low pulls its column down within microseconds). Here that reaction comes
                # back from the world over a socket, so ask the world to answer after it has
                # handled the writes: a loaded host delays the read, never falsifies it.
                _written[0] = False
                _world.call("sync")
            _world.service(0)
            v = self._level()
            if self._id in _world.watch_reads:
                _world.send("read", pin=self._id, v=v)
            return v
        self._out = 1 if v else 0
        if self._mode in (Pin.OUT, Pin.OPEN_DRAIN):
            self._publish()

    def __call__(self, v=None):
        return self.value(v)

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def irq(self, handler=None, trigger=IRQ_FALLING | IRQ_RISING, wake=None, **kw):
        # ports/esp32/machine_pin.c machine_pin_irq: handler, trigger (an int), wake; no
        # `hard` (the handler is always scheduled, mp_sched_schedule), and mp_arg_parse_all
        # refuses any other keyword
        trigger = _world.get_int(trigger)
        if kw:
            raise TypeError("extra keyword arguments given")
        self._irq = handler
        self._trigger = trigger if handler is not None else 0
        self._last = self._level()
        return _PinIRQ(self)

    def __repr__(self):
        return "Pin(%d)" % self._id

    def _edge(self, before):
        after = self._level()
        if self._irq is None or after == before:
            return
        t = self._trigger
        if (after and t & Pin.IRQ_RISING) or (not after and t & Pin.IRQ_FALLING):
            self._irq(self)


class _PinIRQ:
    def __init__(self, pin):
        self._pin = pin

    def trigger(self, t=None):
        if t is None:
            return self._pin._trigger
        self._pin._trigger = t


def _on_pin_event(msg):
    gpio = msg["pin"]
    p = Pin._table.get(gpio)
    before = p._level() if p is not None else None
    v = msg["v"]
    if v is None:
        _world.inputs.pop(gpio, None)
    else:
        _world.inputs[gpio] = v
    if p is not None:
        p._edge(before)


_world.on("pin", _on_pin_event)


class Signal:
    def __init__(self, pin, *args, invert=False, **kw):
        if not isinstance(pin, Pin):
            pin = Pin(pin, *args, **kw)
        self._pin = pin
        self._invert = invert

    def value(self, v=None):
        if v is None:
            return self._pin.value() ^ self._invert
        self._pin.value((1 if v else 0) ^ self._invert)

    def __call__(self, v=None):
        return self.value(v)

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)


_pwm_channels = {}


class PWM:
    """LEDC PWM: up to 16 channels (8 high-speed, 8 low-speed) and 8 timers (distinct freqs)."""

    def __init__(self, dest, *, freq=None, duty=None, duty_u16=None, duty_ns=None, invert=False):
        self._pin = dest if isinstance(dest, Pin) else Pin(dest, Pin.OUT)
        self._freq = 5000
        self._duty = 32768
        self._invert = 0
        self._active = False
        self.init(freq=freq, duty=duty, duty_u16=duty_u16, duty_ns=duty_ns, invert=invert)

    def init(self, *, freq=None, duty=None, duty_u16=None, duty_ns=None, invert=None):
        if self._pin._id not in _pwm_channels and len(_pwm_channels) >= 16:
            raise ValueError("out of PWM channels")
        if freq is not None:
            self._set_freq(freq)
        if invert is not None:
            self._invert = 1 if invert else 0
        _pwm_channels[self._pin._id] = self
        self._active = True
        if duty is not None:
            self.duty(duty)
        elif duty_u16 is not None:
            self.duty_u16(duty_u16)
        elif duty_ns is not None:
            self.duty_ns(duty_ns)
        else:
            self._publish()

    def _set_freq(self, f):
        if not 1 <= f <= 40000000:
            raise ValueError("frequency must be from 1Hz to 40MHz")
        freqs = set(p._freq for k, p in _pwm_channels.items() if k != self._pin._id)
        freqs.add(f)
        if len(freqs) > 8:
            raise ValueError("out of PWM timers")
        self._freq = f

    def _publish(self):
        duty = 65535 - self._duty if self._invert else self._duty
        _world.send("pwm", pin=self._pin._id, freq=self._freq, duty=duty if self._active else None)

    def freq(self, f=None):
        if f is None:
            return self._freq
        self._set_freq(f)
        self._publish()

    def duty_u16(self, d=None):
        if d is None:
            return self._duty
        if not 0 <= d <= 65535:
            raise ValueError("duty_u16 must be from 0 to 65535")
        self._duty = int(d)
        self._publish()

    def duty(self, d=None):
        if d is None:
            return (self._duty * 1023 + 32767) // 65535
        if not 0 <= d <= 1023:
            raise ValueError("duty must be from 0 to 1023")
        self.duty_u16(d * 65535 // 1023)

    def duty_ns(self, ns=None):
        period_ns = 1000000000 // self._freq
        if ns is None:
            return self._duty * period_ns // 65535
        self.duty_u16(min(65535, ns * 65535 // period_ns))

    def deinit(self):
        self._active = False
        _pwm_channels.pop(self._pin._id, None)
        self._publish()

    def __repr__(self):
        return "PWM(Pin(%d), freq=%d, duty_u16=%d)" % (self._pin._id, self._freq, self._duty)


class ADC:
    """ports/esp32/machine_adc.c + adc.c (v1.28.0): one object per pin, attenuation kept per
    pin and 11 dB (ADC_ATTEN_MAX) unless given, the block's width reset to 12 bits by every
    ADC(); read() is the raw count, read_u16() scales it, read_uv() applies ESP-IDF's
    line-fitting calibration in whole mV.

    The input stage: the raw count follows Espressif's calibration line only inside the
    suggested range of the attenuation (100-950, 100-1250, 150-1750, 150-2450 mV; ESP-IDF
    driver/adc.h). At or below the line's offset (75-142 mV) it reads 0; between the offset
    and the range it reads low; above the range it bends (half the slope) and saturates at
    4095, so read_uv() is right only inside the range."""
    ATTN_0DB = 0
    ATTN_2_5DB = 1
    ATTN_6DB = 2
    ATTN_11DB = 3
    WIDTH_9BIT = 9
    WIDTH_10BIT = 10
    WIDTH_11BIT = 11
    WIDTH_12BIT = 12
    # esp_adc_cal_esp32.c / adc_cali_line_fitting.c, eFuse Vref method, nominal Vref 1100 mV:
    # mV = (coeff_a * raw + 32768) // 65536 + coeff_b, coeff_a = vref * scale // 4096
    _SCALE = {1: (57431, 76236, 105481, 196602), 2: (57236, 76175, 105678, 197170)}
    _OFFSET = {1: (75, 78, 107, 142), 2: (63, 66, 89, 128)}
    _RANGE = ((100, 950), (100, 1250), (150, 1750), (150, 2450))
    _VREF = 1100
    _table = {}
    _width = {1: 12, 2: 12}

    def __new__(cls, pin, *args, **kw):
        gpio = _gpio(pin)
        if gpio not in _ADC1 and gpio not in _ADC2:
            raise ValueError("invalid pin")
        a = ADC._table.get(gpio)
        if a is None:
            a = object.__new__(cls)
            a._id = gpio
            a._block = 2 if gpio in _ADC2 else 1
            a._atten = ADC.ATTN_11DB
            ADC._table[gpio] = a
        return a

    def __init__(self, pin, *, atten=-1):
        self.init(atten=atten)

    def init(self, *, atten=-1):
        atten = _world.get_int(atten)
        self._set_atten(ADC.ATTN_11DB if atten == -1 else atten)
        ADC._width[self._block] = 12

    def _set_atten(self, a):
        if not 0 <= a <= 3:
            raise ValueError("invalid attenuation")
        self._atten = a

    def atten(self, a):
        self._set_atten(_world.get_int(a))

    def width(self, w):
        w = _world.get_int(w)
        if not 9 <= w <= 12:
            raise ValueError("invalid bit-width")
        ADC._width[self._block] = w

    def block(self):
        return self._block

    def _coeff(self):
        a = ADC._VREF * ADC._SCALE[self._block][self._atten] // 4096
        return a, ADC._OFFSET[self._block][self._atten]

    def _raw12(self):
        if self._block == 2 and _world.wifi_active:
            # ADC2 belongs to the WiFi driver while it runs: adc_oneshot_read times out, and
            # ports/esp32/adc.c (madcblock_read_helper) ignores the error and returns 0.
            return 0
        mv = _world.call("adc", pin=self._id) * 1000
        a, b = self._coeff()
        lo, hi = ADC._RANGE[self._atten]
        per_mv = 65536 / a  # counts per mV on the calibration line
        if mv <= b:
            raw = 0
        elif mv < lo:
            raw = (lo - b) * per_mv * ((mv - b) / (lo - b)) ** 2
        elif mv <= hi:
            raw = (mv - b) * per_mv
        else:
            raw = (hi - b) * per_mv + (mv - hi) * per_mv / 2
        return max(0, min(4095, int(raw + 0.5)))

    def read(self):
        return self._raw12() >> (12 - ADC._width[self._block])

    def read_u16(self):
        bits = ADC._width[self._block]
        raw = self._raw12() >> (12 - bits)
        return raw << (16 - bits) | raw >> (2 * bits - 16)

    def read_uv(self):
        bits = ADC._width[self._block]
        raw = (self._raw12() >> (12 - bits)) << (12 - bits)
        a, b = self._coeff()
        return ((a * raw + 32768) // 65536 + b) * 1000

    def __repr__(self):
        return "ADC(Pin(%d), atten=%d)" % (self._id, self._atten)


def _hex(b):
    import binascii
    return binascii.hexlify(b).decode()


def _unhex(s):
    import binascii
    return binascii.unhexlify(s)


class I2C:
    """Hardware I2C (ids 0 and 1). A NACK raises OSError(ENODEV) as on the ESP32 port."""

    def __init__(self, id=0, *, scl=None, sda=None, freq=400000, timeout=50000):
        if id not in (0, 1):
            raise ValueError("I2C(%s) doesn't exist" % id)
        if scl is None:
            scl = 18 if id == 0 else 25
        if sda is None:
            sda = 19 if id == 0 else 26
        self._scl = _gpio(scl)
        self._sda = _gpio(sda)
        self._freq = freq

    def _xfer(self, addr, w=None, r=0):
        res = _world.call("i2c", scl=self._scl, sda=self._sda, addr=addr,
                          w=_hex(w) if w is not None else None, r=r)
        return _unhex(res) if r else b""

    def scan(self):
        return _world.call("i2c_scan", scl=self._scl, sda=self._sda)

    # writeto/writevto return what the port's transfer returns (extmod/machine_i2c.c passes
    # it on as "the number of acks"): the hardware I2C (ports/esp32/machine_i2c.c, legacy
    # driver in ESP32_GENERIC) returns the data length, a NACK anywhere raising ENODEV; the
    # SoftI2C counts the ACKed data bytes, the address not included. The device models ACK
    # every byte they are sent, so both give len(data).
    def writeto(self, addr, buf, stop=True):
        data = bytes(buf)
        self._xfer(addr, w=data)
        return len(data)

    def writevto(self, addr, vector, stop=True):
        data = b"".join(bytes(v) for v in vector)
        self._xfer(addr, w=data)
        return len(data)

    def readfrom(self, addr, nbytes, stop=True):
        return self._xfer(addr, r=nbytes)

    def readfrom_into(self, addr, buf, stop=True):
        buf[:] = self._xfer(addr, r=len(buf))
        return None

    def _memaddr(self, memaddr, addrsize):
        if addrsize == 16:
            return bytes(((memaddr >> 8) & 0xFF, memaddr & 0xFF))
        return bytes((memaddr & 0xFF,))

    def readfrom_mem(self, addr, memaddr, nbytes, *, addrsize=8):
        return self._xfer(addr, w=self._memaddr(memaddr, addrsize), r=nbytes)

    def readfrom_mem_into(self, addr, memaddr, buf, *, addrsize=8):
        buf[:] = self.readfrom_mem(addr, memaddr, len(buf), addrsize=addrsize)
        return None

    def writeto_mem(self, addr, memaddr, buf, *, addrsize=8):
        # extmod/machine_i2c.c machine_i2c_writeto_mem returns None (readfrom_mem: bytes)
        self._xfer(addr, w=self._memaddr(memaddr, addrsize) + bytes(buf))
        return None


class SoftI2C(I2C):
    def __init__(self, scl, sda, *, freq=400000, timeout=50000):
        self._scl = _gpio(scl)
        self._sda = _gpio(sda)
        self._freq = freq


class RTC:
    _MEM_MAX = 2048

    def __init__(self, *args, **kw):
        # ports/esp32/machine_rtc.c make_new: mp_arg_check_num(n_args, n_kw, 0, 0, false)
        if kw:
            raise TypeError("function doesn't take keyword arguments")
        if args:
            raise TypeError("function takes 0 positional arguments but %d were given"
                            % len(args))

    def datetime(self, dt=None):
        import time
        if dt is None:
            t = time.gmtime()
            return (t[0], t[1], t[2], t[6], t[3], t[4], t[5], 0)
        secs = time.mktime((dt[0], dt[1], dt[2], dt[4], dt[5], dt[6], 0, 0))
        host_2000 = _world.unix_ns() // 1000000000 - 946684800
        off = secs - host_2000
        _world.hello["rtc_offset"] = off
        _world.send("rtc_set", offset=off)

    def init(self, dt):
        self.datetime(dt)

    def memory(self, data=None):
        if data is None:
            return _world.rtc_mem
        if len(data) > RTC._MEM_MAX:
            raise ValueError("buffer too long")
        _world.rtc_mem = bytes(data)
        _world.send("rtc_mem", data=_hex(data))


class WDT:
    """The task watchdog: once started it cannot be stopped, only fed or given a new timeout."""

    def __init__(self, id=0, timeout=5000):
        # ports/esp32/machine_wdt.c: one task-WDT user for the whole VM; a second WDT()
        # reconfigures the timeout of the running one (esp_task_wdt_reconfigure), and a soft
        # reboot leaves it running (the world keeps counting, see board_process.py _spawn)
        if _world.get_int(id) != 0:
            raise ValueError
        if _world.get_int(timeout) <= 0:
            raise ValueError("WDT timeout too short")
        _world.send("wdt", timeout=timeout)

    def feed(self):
        _world.send("wdt_feed")


class Timer:
    ONE_SHOT = 0
    PERIODIC = 1

    def __init__(self, id, **kw):
        if id not in (0, 1, 2, 3):
            raise ValueError("Timer(%s) doesn't exist" % id)
        self._id = id
        self.period = 0
        self.deadline = 0
        self._cb = None
        self._start = 0
        if kw:
            self.init(**kw)

    def init(self, *, mode=PERIODIC, period=-1, freq=-1, callback=None):
        _world.remove_timer(self)
        if freq > 0:
            period = max(1, 1000 // freq)
        if period < 0:
            period = 1000
        self._start = _world.now_ms()
        self.deadline = self._start + period
        self.period = period if mode == Timer.PERIODIC else 0
        self._cb = callback
        _world.add_timer(self)

    def deinit(self):
        _world.remove_timer(self)

    def value(self):
        return _world.now_ms() - self._start

    def _fire(self):
        if self._cb is not None:
            self._cb(self)


def reset():
    _world.call("reset")


def soft_reset():
    _world.call("soft_reset")


def deepsleep(time_ms=None):
    # ports/esp32/modmachine.c machine_sleep_helper: mp_obj_get_int, a float raises TypeError;
    # any argument arms the timer, so deepsleep(0) wakes at once, deepsleep() never by timer
    if time_ms is not None:
        time_ms = _world.get_int(time_ms)
    _world.call("deepsleep", ms=time_ms)


def lightsleep(time_ms=0):
    time_ms = _world.get_int(time_ms)  # as deepsleep (modmachine.c machine_sleep_helper)
    # the world counts light-sleep time apart from running time (battery estimates)
    _world.send("lightsleep", ms=time_ms)
    _world.sleep_ms(time_ms)


sleep = lightsleep  # modmachine.c: machine.sleep is machine_lightsleep_obj


def reset_cause():
    return _world.hello["cause"]


def wake_reason():
    return _world.hello.get("wake", 0)


def unique_id():
    return _unhex(_world.hello["mac"])


def bitstream(pin, encoding, timing, data):
    """Clock `data` out of `pin`, MSB first, each bit as a high then a low of the given
    nanoseconds (timing: high_0, low_0, high_1, low_1). The ESP32 port does this with the
    RMT peripheral; the world's device models get the bytes and the timing to check."""
    g = _gpio(pin)
    if encoding != 0:
        raise ValueError("encoding must be 0")
    t = [int(x) for x in timing]
    if len(t) != 4:
        raise ValueError("timing must have 4 items")
    if g in _INPUT_ONLY:
        raise ValueError("invalid pin for output")
    _world.send("bitstream", pin=g, t=t, d=_hex(bytes(data)))


_freq = 160000000


def freq(hz=None):
    global _freq
    if hz is None:
        return _freq
    if hz not in (20000000, 40000000, 80000000, 160000000, 240000000):
        raise ValueError("frequency must be 20MHz, 40MHz, 80Mhz, 160MHz or 240MHz")
    _freq = hz


def idle():
    _world.service(1)


def disable_irq():
    return 0


def enable_irq(state=0):
    pass
