"""Maxim DS3231 temperature-compensated RTC (±2 ppm) on I2C address 0x68.

Why: a pole must follow its night schedule after a power cut with no network; the DS3231
keeps time on its coin cell. Registers 0x00-0x06 hold BCD seconds, minutes, hours (24 h),
weekday, date, month (bit 7 = century) and year; status 0x0F bit 7 (OSF) is set when the
oscillator stopped (new chip, flat cell), so the time is not trusted until it is set again.
"""
ADDR = 0x68
REG_TIME = 0x00
REG_STATUS = 0x0F
OSF = 0x80


def _bcd(b):
    return (b >> 4) * 10 + (b & 0x0F)


def _tobcd(v):
    return ((v // 10) << 4) | (v % 10)


class DS3231:
    def __init__(self, i2c, addr=ADDR):
        self.i2c = i2c
        self.addr = addr
        self._buf = bytearray(7)

    def present(self):
        try:
            self.i2c.readfrom_mem(self.addr, REG_STATUS, 1)
            return True
        except OSError:
            return False

    def lost(self):
        """True when the oscillator has stopped since the time was last set."""
        return bool(self.i2c.readfrom_mem(self.addr, REG_STATUS, 1)[0] & OSF)

    def datetime(self):
        """(year, month, day, hour, minute, second, weekday 0=Monday) in UTC, or None when
        the oscillator stopped (time lost)."""
        if self.lost():
            return None
        b = self._buf
        self.i2c.readfrom_mem_into(self.addr, REG_TIME, b)
        hour = b[2]
        if hour & 0x40:  # 12 h mode (set by someone else): bit 5 = PM
            h = _bcd(hour & 0x1F) % 12 + (12 if hour & 0x20 else 0)
        else:
            h = _bcd(hour & 0x3F)
        year = 2000 + _bcd(b[6]) + (100 if b[5] & 0x80 else 0)
        return (year, _bcd(b[5] & 0x1F), _bcd(b[4]), h, _bcd(b[1]), _bcd(b[0] & 0x7F),
                (b[3] - 1) % 7)

    def set(self, year, month, day, hour, minute, second, weekday):
        """Set UTC time and clear the oscillator-stop flag. The weekday register is 1 (Monday)
        to 7 (Sunday)."""
        y = year - 2000
        data = bytes((REG_TIME, _tobcd(second), _tobcd(minute), _tobcd(hour),
                      weekday % 7 + 1, _tobcd(day),
                      _tobcd(month) | (0x80 if y >= 100 else 0), _tobcd(y % 100)))
        self.i2c.writeto(self.addr, data)
        st = self.i2c.readfrom_mem(self.addr, REG_STATUS, 1)[0]
        self.i2c.writeto_mem(self.addr, REG_STATUS, bytes((st & ~OSF & 0xFF,)))


def restore(i2c, clock=None):
    """The DS3231 on this bus (or None), after setting the chip's RTC from it when it holds a
    good time and `clock` (a bourg Clock) is not already valid. Returns (rtc, set)."""
    r = DS3231(i2c)
    if not r.present():
        return None, False
    try:
        dt = r.datetime()
    except OSError:
        dt = None
    if dt is None or (clock is not None and clock.valid()):
        return r, False
    import machine

    machine.RTC().datetime((dt[0], dt[1], dt[2], dt[6], dt[3], dt[4], dt[5], 0))
    return r, True
