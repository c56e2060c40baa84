"""Wall clock: RTC time, optional NTP, and a validity flag.

Why the flag: an ESP32 RTC restarts at 2000-01-01 after a power cut. Events stamped with such
a time would look valid to the back end, so they carry `null` time until the clock is set.
"""
import time

from bourg import compat

MIN_VALID_YEAR = 2024
EPOCH_2000 = 946684800  # seconds from 1970-01-01 to 2000-01-01


def year_is_valid(year):
    return year >= MIN_VALID_YEAR


def epoch_offset(gmtime=None):
    """Seconds to add to time.time() to get Unix time (ESP32 counts from 2000)."""
    gm = gmtime or time.gmtime
    return EPOCH_2000 if gm(0)[0] == 2000 else 0


class Clock:
    """time_fn/gmtime are injectable so the logic runs with fake time in tests."""

    def __init__(self, time_fn=None, gmtime=None):
        self._time = time_fn or time.time
        self._gmtime = gmtime or time.gmtime
        self._offset = epoch_offset(self._gmtime)
        self.synced = False
        self.sync_errors = 0

    def valid(self):
        """True when the RTC holds a plausible date (year >= 2024)."""
        try:
            return year_is_valid(self._gmtime(int(self._time()))[0])
        except (OverflowError, ValueError, OSError):
            return False

    def unix(self):
        """Unix time in whole seconds, or None while the clock is not valid."""
        if not self.valid():
            return None
        return int(self._time()) + self._offset

    def iso(self):
        """"YYYY-MM-DDTHH:MM:SSZ" or None while invalid."""
        if not self.valid():
            return None
        t = self._gmtime(int(self._time()))
        return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (t[0], t[1], t[2], t[3], t[4], t[5])  # noqa: UP031

    def sync_ntp(self, host=None):
        """Set the RTC from NTP. Returns True on success; False if ntptime is missing or the
        network fails (never raises: NTP is a nicety, not a dependency)."""
        try:
            import ntptime
        except ImportError:
            return False
        try:
            if host:
                ntptime.host = host
            ntptime.settime()
        except Exception:  # noqa: BLE001 - OSError, timeouts, odd replies: all mean "not now"
            self.sync_errors += 1
            return False
        self.synced = True
        return True


async def ntp_task(clock, ring, net_up=None, host=None, interval_ms=3600000, retry_ms=60000,
                   sup=None, name="ntp"):
    """Resync hourly while the network is up; retry every minute until the first success."""
    while True:
        if sup is not None:
            sup.alive(name)
        if net_up is not None and not net_up():
            wait = 2000  # try as soon as the network is up, not a whole retry_ms later
        elif clock.sync_ntp(host):
            ring.info("clock", "NTP sync ok: " + str(clock.iso()))
            wait = interval_ms
        else:
            wait = retry_ms
        await _sleep_alive(wait, sup, name)


async def _sleep_alive(ms, sup, name):
    # sleep in slices so the supervisor keeps hearing from us during a long wait
    while ms > 0:
        step = min(ms, 5000)
        await compat.asleep_ms(step)
        ms -= step
        if sup is not None:
            sup.alive(name)
