"""Bounded in-RAM log ring, echoed to the console, with secret redaction.

Why a ring: the board has no room for log files and flash wears out; the last N lines are
enough to explain a fault and can be shipped over MQTT on request.
"""
from bourg import compat

DEBUG = 10
INFO = 20
WARN = 30
ERROR = 40
LEVEL_NAMES = {DEBUG: "D", INFO: "I", WARN: "W", ERROR: "E"}
MASK = "***"

# key names whose values are never logged nor published
_SECRET_WORDS = ("password", "secret", "token", "passwd", "psk")


def is_secret_key(name):
    """True for keys that hold secrets: *secret*, *password*, "key", *_key, *token*, *psk*."""
    if not isinstance(name, str):
        return False
    n = name.lower()
    if n == "key" or n.endswith(("_key", "apikey")):
        return True
    for w in _SECRET_WORDS:
        if w in n:
            return True
    return False


def redact(obj, depth=0):
    """Copy of obj (dict/list/scalars) with secret-named values replaced by "***"."""
    if depth > 8:
        return MASK
    if isinstance(obj, dict):
        out = {}
        for k in obj:
            if is_secret_key(k):
                out[k] = MASK
            else:
                out[k] = redact(obj[k], depth + 1)
        return out
    if isinstance(obj, (list, tuple)):
        return [redact(v, depth + 1) for v in obj]
    return obj


REPLY_LINES = 20  # what `cmd/log` sends back


class LogRing:
    """Keeps the last `size` entries (ticks_ms, level, tag, msg); prints each to the console.

    Why a few more than REPLY_LINES and no more: the console shows everything as it happens,
    and each kept entry costs about 120 bytes of heap on the chip (a ring of 48 cost 2.8 KB
    more than this one for lines nobody could fetch)."""

    def __init__(self, size=REPLY_LINES + 4, level=INFO, console=True, time_fn=None):
        self.size = size
        self.level = level
        self.console = console
        self._time = time_fn or compat.ticks_ms
        self._buf = [None] * size  # type: list
        self._next = 0  # total number of entries ever written (index of the next one)
        self._secrets = []
        self.listeners = []

    def add_secret(self, value):
        """Scrub this literal value from every later message (short values are ignored)."""
        if isinstance(value, str) and len(value) >= 4 and value not in self._secrets:
            self._secrets.append(value)

    def scrub(self, text):
        for s in self._secrets:
            if s in text:
                text = text.replace(s, MASK)
        return text

    def log(self, level, tag, msg, *args):
        if level < self.level:
            return
        try:
            if args:
                msg = msg % args
            msg = str(msg)
        except Exception:  # noqa: BLE001 - a bad format string must not take the caller down
            msg = f"{msg!r} {args!r}"
        msg = self.scrub(msg)
        t = self._time()
        self._buf[self._next % self.size] = (t, level, tag, msg)
        self._next += 1
        if self.console:
            print("[{} {}] {}: {}".format(t, LEVEL_NAMES.get(level, "?"), tag, msg))
        for cb in self.listeners:
            try:
                cb(t, level, tag, msg)
            except Exception:  # noqa: BLE001, S110 - a broken listener must not break logging
                pass

    def debug(self, tag, msg, *args):
        self.log(DEBUG, tag, msg, *args)

    def info(self, tag, msg, *args):
        self.log(INFO, tag, msg, *args)

    def warn(self, tag, msg, *args):
        self.log(WARN, tag, msg, *args)

    warning = warn

    def error(self, tag, msg, *args):
        self.log(ERROR, tag, msg, *args)

    def exc(self, tag, msg, e):
        """Log an exception by type and text (tracebacks go to the console only)."""
        self.log(ERROR, tag, f"{msg}: {type(e).__name__} {e}")

    @property
    def total(self):
        return self._next

    def entries(self, since=0):
        """Entries with index >= since still in the ring, oldest first, as (index, entry)."""
        first = max(self._next - self.size, 0, since)
        out = []
        for i in range(first, self._next):
            out.append((i, self._buf[i % self.size]))
        return out

    def dump(self, since=0, limit=None):
        """List of dicts for MQTT: {"i", "t", "l", "tag", "msg"} (already redacted)."""
        ent = self.entries(since)
        if limit is not None and len(ent) > limit:
            ent = ent[len(ent) - limit:]
        return [{"i": i, "t": e[0], "l": LEVEL_NAMES.get(e[1], "?"), "tag": e[2], "msg": e[3]}
                for i, e in ent]


# The board-wide log; modules do `from bourg.logring import log`.
log = LogRing()
