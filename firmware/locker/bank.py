"""A locker bank's decisions: codes typed on the keypad, doors, the guess limiter, the clock,
cold chain and alarms. Pure; runs on MicroPython and CPython. The app (locker_app.py) feeds it
keys, door levels, temperatures and the time, persists `state()` atomically when `dirty` is
set, and carries out `take_actions()`: ("unlock", n), ("beep", "ok"/"no"/"wait"),
("audit", {...}), ("alarm", name, active, {...}), ("set_time", s), ("armed", n).

Never twice: an accepted code goes into the ledger at once, as used, and the compartment
holds it as *pending*; the app saves the state before it pulses the lock. The door opening
completes the unlock, however late: a pulse releases the lock's hook, and the hook holds no
door until that door has been opened and pushed shut. So a code is never given back (a code
given back while the hook was still released opened the door twice): a door not opened
within open_window_s raises `unlatched_<n>`, which its opening clears. If the power fails
with an unlock pending and
the door is found shut at boot, nobody can tell whether it opened in between, so the code
stays used and the compartment moves on as if the door had opened and shut (a deposit arms
it, a pickup or retrieve frees it): a power cut inside the unlock is the one way a code is
lost, and no code ever opens twice.

The bank's time never goes back: windows and the ledger use max(clock, the highest trusted
time seen), so no rollback of any size revives a code. Only an admin code (authenticated
time, within ADMIN_SKEW_S of the clock's own reading while the clock is trusted) brings it
back, by at most codes.LEDGER_GRACE_S, for a clock that had jumped ahead.
"""
import codes
import lockout

FREE, LOADING, ARMED, EMPTYING = "free", "loading", "armed", "emptying"
BEHIND_ALARM_S = 60  # a clock this far behind the bank's time raises clock_behind
SNTP_BOUND_S = 120  # SNTP (unauthenticated) is believed this close to the DS3231, no further
# The highest time seen is saved with the rest of the state, and on its own once it has moved
# this far (a flash write every tick would wear the flash out).
SAVE_HIGH_EVERY_S = 3600
# What the keypad alone makes (refused codes, garbage, cleared entries) costs an attacker
# little, and the audit log holds 500 records: the first of each hour is audited, the rest
# are counted into one `noise` record at the hour's end or before the bank's next other
# record. Typing alone then takes at least 250 hours to push a forced door out of the log.
NOISE_WINDOW_S = 3600


def clock_reading(ds_s, sys_s, synced, high_s, bound_s=SNTP_BOUND_S):
    """(time, trusted, sntp_disagrees): which clock the bank believes. The DS3231 (battery
    backed, +-2 ppm) is the authority; SNTP, which anyone on the network can answer, only
    refines it within bound_s. Without a DS3231 time, SNTP is believed only within bound_s
    of the bank's highest time (after a soft reset, say); else the clock is lost until an
    admin code sets it."""
    if ds_s is not None:
        if synced and sys_s is not None:
            if abs(sys_s - ds_s) <= bound_s:
                return sys_s, True, False
            return ds_s, True, True
        return ds_s, True, False
    if synced and sys_s is not None and high_s and abs(sys_s - high_s) <= bound_s:
        return sys_s, True, False
    return (sys_s or 0), False, False


class Bank:
    def __init__(self, key, bank_id, comps, state=None, open_window_s=30, door_alarm_s=120):
        """comps: {n: {"max_c": float or None, "max_s": seconds over max_c before alarm}}."""
        self.key = key
        self.bank = bank_id
        self.comps = comps
        self.open_window_s = open_window_s
        self.door_alarm_s = door_alarm_s
        self.c = {}
        for n in comps:
            self.c[n] = {"state": FREE, "since": 0, "door": False, "door_since": 0,
                         "pending": None, "left_open": False, "hot_since": None,
                         "hot_max": None, "cold_alarm": False}
        self.ledger = codes.Ledger(codes.ENTRIES_PER_COMPARTMENT * len(comps))
        self.lock = lockout.Lockout()
        self.high_s = 0  # the highest trusted time seen
        self.floor_s = 0  # codes whose window ended by then are forgotten: never below it
        self.rtc_s = 0  # the clock's own last reading
        self._saved_high = 0
        self.last_admin = -1
        self.clock_ok = True
        self.alarms = {}
        self._noise = None  # [first, last, count, reasons] of the burst after its first record
        self._act = []
        self.dirty = False
        if state:
            self._load(state)

    # ---- persistence ----------------------------------------------------------------------
    def _load(self, st):
        for k, v in st.get("c", {}).items():
            n = int(k)
            if n in self.c:
                self.c[n]["state"] = v[0]
                self.c[n]["since"] = v[1]
                p = v[2]
                # a layout-1 pending unlock named a code that can no longer be typed
                self.c[n]["pending"] = p if p is None or isinstance(p[1], int) else None
        self.ledger = codes.Ledger(self.ledger.max_entries, st.get("ledger"))
        self.lock = lockout.Lockout(st.get("lockout"))
        self.high_s = st.get("high", st.get("last_seen", 0))
        self._saved_high = self.high_s
        self.floor_s = st.get("floor", 0)
        self.last_admin = st.get("last_admin", -1)
        self.alarms = st.get("alarms", {})

    def state(self):
        self._saved_high = self.high_s
        return {"c": {str(n): [v["state"], v["since"], v["pending"]] for n, v in self.c.items()},
                "ledger": self.ledger.to_list(), "lockout": self.lock.state(),
                "high": self.high_s, "floor": self.floor_s, "last_admin": self.last_admin,
                "alarms": self.alarms}

    def boot(self, doors, now_s, clock_ok, up_s=None):
        """After a reset: settle pending unlocks from the doors as they are now. up_s: the
        uptime the guess limiter runs on (code()), which starts its wait again from here."""
        self.set_clock(now_s, clock_ok)
        if up_s is not None:
            self.lock.restart(up_s)
        for n, v in self.c.items():
            v["door"] = bool(doors.get(n))
            v["door_since"] = now_s
            if v["pending"] is None:
                continue
            if v["door"]:
                self._opened(n, now_s)
            else:
                self._cut_during_unlock(n, now_s)

    # ---- time -----------------------------------------------------------------------------
    def now(self):
        """The bank's time: never earlier than the highest trusted time seen."""
        return self.rtc_s if self.rtc_s > self.high_s else self.high_s

    def sntp_disagrees(self, yes, sntp_s=None):
        """The alarm a spoofed or broken SNTP raises (the bank keeps to its DS3231)."""
        self._alarm("sntp_disagrees", yes, {} if sntp_s is None else {"sntp": sntp_s})

    def set_clock(self, now_s, clock_ok):
        """The clock's reading and whether it is trusted (the app believes SNTP only within
        a bound of the DS3231). A clock behind the bank's time is not believed for windows;
        it raises clock_behind, which an admin code settles."""
        self.rtc_s = now_s
        self.clock_ok = clock_ok
        if not clock_ok:
            return
        if now_s > self.high_s:
            self.high_s = now_s
            self._raise_floor()
            if now_s - self._saved_high >= SAVE_HIGH_EVERY_S:
                self.dirty = True
        self._alarm("clock_behind", self.high_s - now_s > BEHIND_ALARM_S,
                    {"behind_s": self.high_s - now_s})

    def _raise_floor(self):
        f = self.high_s - codes.LEDGER_GRACE_S
        if f > self.floor_s:
            self.floor_s = f
            n = len(self.ledger.entries)
            self.ledger.prune(f)
            if len(self.ledger.entries) != n:
                self.dirty = True

    def _admin_time(self, t_s, now_s):
        """An admin code's authenticated time: the clock follows it, and the bank's time
        comes back to it by at most LEDGER_GRACE_S (the ledger still holds every code used
        in that span)."""
        if not self.clock_ok or abs(t_s - self.rtc_s) > BEHIND_ALARM_S:
            self._act.append(("set_time", t_s))
        self.high_s = t_s if t_s > self.floor_s else self.floor_s
        self.rtc_s = t_s
        self.clock_ok = True
        self._raise_floor()
        self._alarm("clock_behind", False, {})

    # ---- keypad ---------------------------------------------------------------------------
    def code(self, digits, now_s=None, up_s=None):
        """A code confirmed with '#'. now_s: the clock's reading (set_clock) if given; up_s:
        the board's uptime in seconds, which the guess limiter runs on (lockout.py says why;
        without it, the clock's reading, for a host that replays a bank on one clock)."""
        if now_s is not None:
            self.set_clock(now_s, self.clock_ok)
        t = self.now()
        lk = self.lock
        up = self.rtc_s if up_s is None else up_s
        try:
            codes.parse(digits)
        except codes.CodeError as e:  # never reaches a MAC: not a guess, not limited
            return self._refuse(t, "malformed: " + str(e), None, "malformed")
        why = lk.may_try(up)
        if why is not None:
            self._act.append(("beep", "wait"))
            self._noisy(t, "wait", "refused", reason=why)
            return why
        r = codes.check(self.key, self.bank, digits, t, self.ledger,
                        lambda n: n in self.c and self.c[n]["state"] == ARMED,
                        self.clock_ok, self.last_admin, self.rtc_s)  # pyright: ignore[reportArgumentType] admin entry: int
        if r.ok and r.kind == codes.ADMIN:
            self.last_admin = r.entry
            lk.reset()
            self._alarm("guessing", False, {})
            self._admin_time(r.time_s, t)
            self._audit(self.now(), "admin")
            self._act.append(("beep", "ok"))
            self.dirty = True
            return "admin"
        if r.ok:
            return self._accept(r, t)
        if r.reason == "bad_code":
            if lk.failed(up):
                self._alarm("guessing", True, {"failures": lk.failures})
            self.dirty = True
        return self._refuse(t, r.reason, r.compartment)

    def _accept(self, r, t):
        n = r.compartment
        v = self.c.get(n)
        if v is None or v["pending"] is not None or v["state"] not in (FREE, ARMED):
            return self._refuse(t, "busy", n)
        if self.ledger.full():  # cannot happen with the ledger sized as it is: fail closed
            self._alarm("ledger_full", True, {})
            return self._refuse(t, "ledger_full", n)
        self.ledger.add(r.entry)
        v["pending"] = [r.kind, r.entry, self.rtc_s]
        self.dirty = True  # the app saves before it carries out the unlock below
        self._act.append(("unlock", n))
        self._act.append(("beep", "ok"))
        self._audit(t, "unlock", comp=n, kind=r.kind)
        return "ok"

    def _refuse(self, t, reason, comp, kind=None):
        """kind: what the hour's noise record counts it as (default the reason)."""
        self._act.append(("beep", "no"))
        self._noisy(t, kind or reason, "refused", reason=reason, comp=comp)
        return reason

    def cleared(self, why, now_s):
        if why not in ("star",):
            self._act.append(("beep", "no"))
            self._noisy(now_s, why, "entry_cleared", reason=why)

    def _noisy(self, now_s, kind, what, **kw):
        """A record the keypad alone makes (NOISE_WINDOW_S): audited as `what` if it is the
        first of its hour, else counted by `kind` (a refusal's reason, a clearing's)."""
        b = self._noise
        if b is None:
            self._audit(now_s, what, **kw)
            self._noise = [now_s, now_s, 0, {}]
            return
        b[1] = now_s
        b[2] += 1
        b[3][kind] = b[3].get(kind, 0) + 1

    def _end_noise(self, now_s, early=False):
        """The hour is over (or, early, the bank has another record to write): one record
        of what it held after its first, and the next keypad record is audited again."""
        b = self._noise
        if b is None or (not early and b[0] <= now_s < b[0] + NOISE_WINDOW_S):
            return
        self._noise = None
        if b[2]:
            self._act.append(("audit", {"t": b[1], "ev": "noise", "count": b[2],
                                        "since": b[0], "kinds": b[3]}))

    # ---- doors ----------------------------------------------------------------------------
    def door(self, n, is_open, now_s):
        v = self.c[n]
        if v["door"] == is_open:
            return
        v["door"] = is_open
        v["door_since"] = now_s
        if is_open:
            if v["pending"] is not None:
                self._opened(n, now_s)
            elif v["state"] not in (LOADING, EMPTYING):
                self._alarm("forced_" + str(n), True, {"comp": n})
                self._audit(now_s, "forced", comp=n)
        else:
            if v["left_open"]:
                v["left_open"] = False
                self._alarm("door_left_open_" + str(n), False, {"comp": n})
            if v["state"] == LOADING:
                v["state"], v["since"] = ARMED, now_s
                self._audit(now_s, "armed", comp=n)
                self._act.append(("armed", n))
            elif v["state"] == EMPTYING:
                v["state"], v["since"] = FREE, now_s
                self._audit(now_s, "freed", comp=n)
            self.dirty = True

    def _opened(self, n, now_s):
        v = self.c[n]
        kind = v["pending"][0]
        v["pending"] = None
        v["state"] = LOADING if kind == codes.DEPOSIT else EMPTYING
        v["since"] = now_s
        self.dirty = True
        self._audit(now_s, "opened", comp=n, kind=kind)
        self._alarm("unlatched_" + str(n), False, {"comp": n})

    def _cut_during_unlock(self, n, now_s):
        """Power cut with the unlock pending, door shut now: it may have opened and shut in
        the dark. The code stays used; the compartment moves on as if it had."""
        v = self.c[n]
        kind = v["pending"][0]
        v["pending"] = None
        v["state"] = ARMED if kind == codes.DEPOSIT else FREE
        v["since"] = now_s
        self.dirty = True
        self._audit(now_s, "unlock_cut", comp=n, kind=kind)
        self._alarm("unlatched_" + str(n), False, {"comp": n})
        if kind == codes.DEPOSIT:
            self._act.append(("armed", n))

    def _not_opened(self, n, now_s):
        """The window passed with the door shut. The hook stays released until the door
        opens, so the code stays spent and the unlock pending: the alarm sends someone."""
        name = "unlatched_" + str(n)
        if name not in self.alarms:
            self._audit(now_s, "not_opened", comp=n)
            self._alarm(name, True, {"comp": n})

    # ---- the clock's ticks ----------------------------------------------------------------
    def tick(self, now_s=None, temps=None):
        """Once a second or so: unlock windows, doors left open, the cold chain. now_s: the
        clock's reading, if not given to set_clock already. The unlock window runs on that
        reading, which a rollback cannot stall: a clock moved back ends the window at once
        (it only raises an alarm); the rest runs on the bank's time."""
        if now_s is not None:
            self.set_clock(now_s, self.clock_ok)
        rtc = self.rtc_s
        now_s = self.now()
        self._end_noise(now_s)
        for n, v in self.c.items():
            p = v["pending"]
            if p is not None and (rtc - p[2] >= self.open_window_s or rtc < p[2]):
                self._not_opened(n, now_s)
            if v["door"] and not v["left_open"] and now_s - v["door_since"] >= \
                    self.door_alarm_s:
                v["left_open"] = True
                self._alarm("door_left_open_" + str(n), True, {"comp": n})
            spec = self.comps[n]
            t = None if temps is None else temps.get(n)
            if spec.get("max_c") is None or t is None:
                continue
            if t > spec["max_c"]:
                if v["hot_since"] is None:
                    v["hot_since"], v["hot_max"] = now_s, t
                    self._audit(now_s, "temp_excursion_start", comp=n, temp_c=t)
                v["hot_max"] = max(v["hot_max"], t)
                if not v["cold_alarm"] and now_s - v["hot_since"] >= spec["max_s"]:
                    v["cold_alarm"] = True
                    self._alarm("cold_chain_" + str(n), True, {"comp": n, "temp_c": t})
            elif v["hot_since"] is not None:
                self._audit(now_s, "temp_excursion_end", comp=n, max_c=v["hot_max"],
                            seconds=now_s - v["hot_since"])
                v["hot_since"] = None
                if v["cold_alarm"]:
                    v["cold_alarm"] = False
                    self._alarm("cold_chain_" + str(n), False, {"comp": n})

    def uncollected(self, now_s):
        """Compartments armed for longer than a pickup code lives (merchant should retrieve)."""
        lim = codes.VALID_DAYS[codes.PICKUP] * codes.DAY
        return [n for n, v in self.c.items() if v["state"] == ARMED and now_s - v["since"] > lim]

    # ---- outputs --------------------------------------------------------------------------
    def _alarm(self, name, active, detail):
        if active == (name in self.alarms):
            return
        if active:
            self.alarms[name] = 1
        else:
            del self.alarms[name]
        self.dirty = True
        self._act.append(("alarm", name, active, detail))

    def _audit(self, now_s, what, **kw):
        if self._noise is not None:
            self._end_noise(now_s, early=True)  # its count comes before the new record
        kw["t"] = now_s
        kw["ev"] = what
        self._act.append(("audit", kw))

    def take_actions(self):
        out, self._act = self._act, []
        return out

    def summary(self):
        return {str(n): {"state": v["state"], "door": "open" if v["door"] else "shut"}
                for n, v in self.c.items()}


class ColdLog:
    """Each refrigerated compartment's readings over a period, for the console's chart: the
    lowest, highest and last, and how many reads failed. The period's extremes, not a sample,
    so an excursion between two publications still shows. Pure: readings in, a dict out."""

    def __init__(self):
        self.c = {}

    def add(self, temps):
        """One round of readings: {compartment: celsius, or None when the read failed}."""
        for n, t in temps.items():
            v = self.c.get(n)
            if v is None:
                v = self.c[n] = [None, None, None, 0]  # min, max, last, failed
            if t is None:
                v[3] += 1
                continue
            if v[0] is None or t < v[0]:
                v[0] = t
            if v[1] is None or t > v[1]:
                v[1] = t
            v[2] = t

    def take(self, limits):
        """The period's figures, {"2": {"min", "max", "last", "failed", "max_c"}}, with each
        compartment's limit from `limits` ({n: max_c}); a new period starts."""
        out = {}
        for n, v in self.c.items():
            out[str(n)] = {"min": v[0], "max": v[1], "last": v[2], "failed": v[3],
                           "max_c": limits.get(n)}
        self.c = {}
        return out
