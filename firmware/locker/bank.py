"""A locker bank's decisions: codes typed on the keypad, doors, the lockout, cold chain and
alarms. Pure; runs on MicroPython and CPython. The app (locker_app.py) feeds it keys, door
levels, temperatures and the time, persists `state()` atomically when `dirty` is set, and
carries out `take_actions()`: ("unlock", n), ("beep", "ok"/"no"/"wait"), ("audit", {...}),
("alarm", name, active, {...}).

Power-safe unlock: an accepted code goes into the ledger as *pending* and the state is saved
before the lock is pulsed. Once the door opens the entry becomes used. If the door does not
open within open_window_s, or the power fails and the door is found shut at boot, the entry is
removed: the code still works. A pending entry counts as used, so no code opens twice.
"""
import codes
import lockout

FREE, LOADING, ARMED, EMPTYING = "free", "loading", "armed", "emptying"


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
        self.ledger = codes.Ledger()
        self.lock = lockout.Lockout()
        self.last_seen = 0
        self.last_admin = -1
        self.clock_ok = True
        self.alarms = {}
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
                self.c[n]["pending"] = v[2]
        self.ledger = codes.Ledger(entries=st.get("ledger"))
        self.lock = lockout.Lockout(st.get("lockout"))
        self.last_seen = st.get("last_seen", 0)
        self.last_admin = st.get("last_admin", -1)
        self.alarms = st.get("alarms", {})

    def state(self):
        return {"c": {str(n): [v["state"], v["since"], v["pending"]] for n, v in self.c.items()},
                "ledger": self.ledger.to_list(), "lockout": self.lock.state(),
                "last_seen": self.last_seen, "last_admin": self.last_admin,
                "alarms": self.alarms}

    def boot(self, doors, now_s, clock_ok):
        """After a reset: settle pending unlocks from the doors as they are now."""
        self.set_clock(now_s, clock_ok)
        for n, v in self.c.items():
            v["door"] = bool(doors.get(n))
            v["door_since"] = now_s
            p = v["pending"]
            if p is None:
                continue
            if v["door"]:
                self._opened(n, now_s)
            else:
                self._revert(n, now_s, "power cut before the door opened")

    def set_clock(self, now_s, clock_ok):
        """The time and whether the RTC is trusted; an RTC behind the last time seen (by more
        than a minute) is taken as lost: a rollback must not revive expired codes."""
        if clock_ok and now_s + 60 < self.last_seen:
            clock_ok = False
        self.clock_ok = clock_ok
        if clock_ok and now_s > self.last_seen:
            self.last_seen = now_s

    # ---- keypad ---------------------------------------------------------------------------
    def code(self, digits, now_s):
        """A code confirmed with '#'."""
        lk = self.lock
        lt = now_s
        is_admin = len(digits) == codes.ADMIN_LEN and digits[:2] == "00"
        if not is_admin:
            why = lk.may_try(lt)
            if why is not None:
                self._act.append(("beep", "wait"))
                self._audit(now_s, "refused", reason=why)
                return why
        r = codes.check(self.key, self.bank, digits, now_s, self.ledger,
                        lambda n: n in self.c and self.c[n]["state"] == ARMED,
                        self.clock_ok, self.last_admin)
        if r.ok and r.kind == codes.ADMIN:
            self.last_admin = r.entry
            lk.reset()
            self._alarm("lockout", False, {})
            self._audit(now_s, "admin")
            self._act.append(("beep", "ok"))
            self.dirty = True
            if not self.clock_ok or abs(r.time_s - now_s) > 60:
                self._act.append(("set_time", r.time_s))
            return "admin"
        if r.ok and r.compartment in self.c and self.c[r.compartment]["pending"] is None and \
                self.c[r.compartment]["state"] in (FREE, ARMED):
            n = r.compartment
            v = self.c[n]
            v["pending"] = [r.kind, list(r.entry[0]), r.entry[1], now_s]
            if r.kind in (codes.DEPOSIT, codes.RETRIEVE):
                lk.reset()  # a merchant code re-opens the bank to customers
                self._alarm("lockout", False, {})
            self.dirty = True  # the app saves before it carries out the unlock below
            self._act.append(("unlock", n))
            self._act.append(("beep", "ok"))
            self._audit(now_s, "unlock", comp=n, kind=r.kind)
            return "ok"
        reason = r.reason if not r.ok else "busy"
        if reason == "bad_code":
            if lk.failed(lt):
                self._alarm("lockout", True, {"failures": lk.failures})
            self.dirty = True
        self._act.append(("beep", "no"))
        self._audit(now_s, "refused", reason=reason, comp=r.compartment)
        return reason

    def cleared(self, why, now_s):
        if why not in ("star",):
            self._act.append(("beep", "no"))
            self._audit(now_s, "entry_cleared", reason=why)

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
        kind, entry, end, _t = v["pending"]
        v["pending"] = None
        try:
            self.ledger.add(entry, end, now_s)
        except codes.CodeError:
            self._alarm("ledger_full", True, {})
        v["state"] = LOADING if kind == codes.DEPOSIT else EMPTYING
        v["since"] = now_s
        self.dirty = True
        self._audit(now_s, "opened", comp=n, kind=kind)

    def _revert(self, n, now_s, why):
        self.c[n]["pending"] = None
        self.dirty = True
        self._audit(now_s, "not_opened", comp=n, reason=why)

    # ---- time -----------------------------------------------------------------------------
    def tick(self, now_s, temps=None):
        """Once a second or so: unlock windows, doors left open, the cold chain."""
        for n, v in self.c.items():
            p = v["pending"]
            if p is not None and now_s - p[3] >= self.open_window_s:
                self._revert(n, now_s, "door not opened in time")
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
        kw["t"] = now_s
        kw["ev"] = what
        self._act.append(("audit", kw))

    def take_actions(self):
        out, self._act = self._act, []
        return out

    def summary(self):
        return {str(n): {"state": v["state"], "door": "open" if v["door"] else "shut"}
                for n, v in self.c.items()}
