"""Wall clock: RTC time, optional NTP, and a validity flag.

Why the flag: an ESP32 RTC restarts at 2000-01-01 after a power cut. Events stamped with such
a time would look valid to the back end, so they carry `null` time until the clock is set.

Why an NTP answer is not always believed: SNTP is unauthenticated UDP, and a server can send
one wrong answer, or a frozen one (unsynchronised: the same seconds every time). A pole that
believed an answer twelve hours off would dim the street at night until its next sync. An
answer within STEP_S of a valid clock is a correction; any other (a clock not yet set, a big
step) is believed only when a later answer agrees with it, counting the time between. A
server that is wrong the same way every time is not caught (the board asks the same server
again, as its DNS answer is cached): that is NTP's limit; the locker bank keeps to its DS3231.
"""
import time

from bourg import compat

MIN_VALID_YEAR = 2024
EPOCH_2000 = 946684800  # seconds from 1970-01-01 to 2000-01-01
STEP_S = 300  # an NTP answer this close to a valid clock is a correction, believed at once
CONFIRM_MS = 5000  # the second question, when an answer needs one
AGREE_MS = 2000  # two answers agree when they differ by this at most, once time between
# is counted: less than CONFIRM_MS, so a server whose answer is frozen never agrees with itself
HELD = 2  # answers held for a later one to agree with: a lie between two truths costs a round
HELD_MS = 600000  # a held answer older than this is forgotten
MIN_VALID_S = 1704067200  # 2024-01-01T00:00:00Z


def year_is_valid(year):
    return year >= MIN_VALID_YEAR


def ntp_believed(clock_s, answer_s, held):
    """Whether to set the clock to an NTP answer (Unix seconds). clock_s: the board's time,
    None while it has none; held: [(an earlier answer not believed, ms ago)]. A correction
    within STEP_S is believed; anything else only when it agrees with a held answer."""
    if answer_s < MIN_VALID_S:  # not a time at all
        return False
    if clock_s is not None and abs(answer_s - clock_s) <= STEP_S:
        return True
    for held_s, ago_ms in held:
        if abs((answer_s - held_s) * 1000 - ago_ms) <= AGREE_MS:
            return True
    return False


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
        self._held = []  # [(an answer not believed, ticks_ms when it came)], at most HELD
        self.holds = 0  # answers not believed in a row
        self.last_held = None  # how far (s) the last answer held was from the clock

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
        """Ask NTP and set the RTC if the answer is believed (ntp_believed). Returns "ok",
        "held" (an answer that needs a second one to agree, CONFIRM_MS later) or "failed"
        (ntptime missing, the network, an odd reply: NTP is a nicety, not a dependency).
        Never raises."""
        try:
            import ntptime
        except ImportError:
            return "failed"
        try:
            if host:
                ntptime.host = host
            answer = ntptime.time() + self._offset  # the port's epoch, as settime uses it
        except Exception:  # noqa: BLE001 - OSError, timeouts, odd replies: all mean "not now"
            self.sync_errors += 1
            return "failed"
        now_ms = compat.ticks_ms()
        held = []
        for was, at in self._held:
            ago = compat.ticks_diff(now_ms, at)
            if 0 <= ago <= HELD_MS:  # below 0: so old that ticks wrapped
                held.append((was, ago))
        clock_s = self.unix()
        if not ntp_believed(clock_s, answer, held):
            self._held = self._held[1 - HELD:] + [(answer, now_ms)]
            self.last_held = None if clock_s is None else answer - clock_s
            self.holds += 1
            return "held"
        try:
            self._set(answer)
        except Exception:  # noqa: BLE001 - an RTC that refuses: count it, try again later
            self.sync_errors += 1
            return "failed"
        self._held = []
        self.holds = 0
        self.synced = True
        return "ok"

    def _set(self, unix_s):
        """Set the RTC as ntptime.settime does (machine.RTC().datetime, weekday from 1)."""
        import machine

        tm = self._gmtime(unix_s - self._offset)
        machine.RTC().datetime((tm[0], tm[1], tm[2], tm[6] + 1, tm[3], tm[4], tm[5], 0))


async def ntp_task(clock, ring, net_up=None, host=None, interval_ms=3600000, retry_ms=60000,
                   sup=None, name="ntp"):
    """Resync hourly while the network is up; retry every minute until the first success;
    ask again CONFIRM_MS after an answer that needs a second one."""
    while True:
        if sup is not None:
            sup.alive(name)
        if net_up is not None and not net_up():
            wait = 2000  # try as soon as the network is up, not a whole retry_ms later
        else:
            wait = _after_sync(clock, ring, host, interval_ms, retry_ms)
        await _sleep_alive(wait, sup, name)


def _after_sync(clock, ring, host, interval_ms, retry_ms):
    """One question to NTP, logged; returns the ms until the next."""
    r = clock.sync_ntp(host)
    if r == "ok":
        ring.info("clock", "NTP sync ok: " + str(clock.iso()))
        return interval_ms
    if r == "held":
        if clock.last_held is None:  # every boot without a clock: routine
            ring.info("clock", "NTP answer held until a second one agrees (no clock yet)")
        else:
            ring.warn("clock", "NTP answer " + str(clock.last_held) +
                      " s from the clock not believed: asking again")
        return CONFIRM_MS if clock.holds < 4 else retry_ms  # answers that never agree
    return retry_ms


async def _sleep_alive(ms, sup, name):
    # sleep in slices so the supervisor keeps hearing from us during a long wait
    while ms > 0:
        step = min(ms, 5000)
        await compat.asleep_ms(step)
        ms -= step
        if sup is not None:
            sup.alive(name)
