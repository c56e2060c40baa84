"""Message authentication shared by the radio protocols: HMAC-SHA256 (MicroPython may lack
the hmac module), a constant-time comparison, and a per-sender anti-replay window; and
ESP-NOW's broadcast address, here because every radio app imports this module already.
Pure; runs on MicroPython and CPython."""
try:
    import hashlib
except ImportError:  # pragma: no cover - very small ports
    import uhashlib as hashlib

BCAST = b"\xff\xff\xff\xff\xff\xff"  # ESP-NOW's broadcast peer


class FrameError(ValueError):
    """A radio frame that is not ours, not intact or not authentic."""


def check_frame(key, data, frame_len, magic, version, tag_len):
    """The authenticated body of a frame laid out as body + truncated HMAC tag, whose first
    two bytes are magic and version; FrameError otherwise."""
    try:
        data = bytes(data)
    except Exception:
        raise FrameError("not bytes")
    if len(data) != frame_len:
        raise FrameError("bad length")
    if data[0] != magic:
        raise FrameError("bad magic")
    if data[1] != version:
        raise FrameError("unsupported version")
    body = data[:frame_len - tag_len]
    if not consteq(hmac_sha256(key, body)[:tag_len], data[frame_len - tag_len:]):
        raise FrameError("bad tag")
    return body


def _xor(key, pad):
    return bytes([b ^ pad for b in key])


def hmac_sha256(key, msg, *more):
    """RFC 2104 HMAC with SHA-256 (MicroPython may lack the hmac module) of msg and the
    `more` parts after it, each bytes or a view: nothing is copied to join them."""
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key + bytes(64 - len(key))
    inner = hashlib.sha256(_xor(key, 0x36))
    inner.update(msg)
    for part in more:
        inner.update(part)
    outer = hashlib.sha256(_xor(key, 0x5C))
    outer.update(inner.digest())
    return outer.digest()


def consteq(a, b):
    """Comparison whose time does not depend on where the bytes differ."""
    if len(a) != len(b):
        return False
    r = 0
    for i in range(len(a)):
        r |= a[i] ^ b[i]
    return r == 0


class ReplayWindow:
    """Per-source anti-replay: accepts each (epoch, seq) once, within the last `size`
    sequence numbers of the newest epoch; an older epoch is refused. Bounded memory:
    at most `max_sources` senders (the least recently accepted one is forgotten).

    Why 30 by default: the ESP32's small ints have 31 bits; a 30-bit mask, kept below 2**30 at
    every step, never becomes a heap-allocated long, so checking a frame allocates nothing."""

    def __init__(self, size=30, max_sources=32):
        self.size = size
        self.max_sources = max_sources
        self._src = {}  # mac -> [epoch, top_seq, bitmask (bit i = top_seq - i seen), last_use]
        self._use = 0
        self.rejected = 0

    def check(self, src, epoch, seq):
        """True (and remembered) if new; False for a replay or an out-of-window frame."""
        self._use += 1
        st = self._src.get(src)
        if st is None or epoch > st[0] or (st[0] - epoch) > 0x8000:
            # first frame seen, or the sender rebooted (epoch wrap tolerated)
            if st is None and len(self._src) >= self.max_sources:
                oldest = None
                for k in self._src:
                    if oldest is None or self._src[k][3] < self._src[oldest][3]:
                        oldest = k
                del self._src[oldest]
            self._src[src] = [epoch, seq, 1, self._use]
            return True
        if epoch < st[0]:
            self.rejected += 1
            return False
        top = st[1]
        if seq > top:
            shift = seq - top
            # drop the bits that fall out before shifting, so no step exceeds the window
            st[2] = (((st[2] & ((1 << (self.size - shift)) - 1)) << shift) | 1
                     if shift < self.size else 1)
            st[1] = seq
            st[3] = self._use
            return True
        back = top - seq
        if back >= self.size or (st[2] >> back) & 1:
            self.rejected += 1
            return False
        st[2] |= 1 << back
        st[3] = self._use
        return True
