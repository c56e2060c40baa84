"""What a sensor node keeps in RTC memory between deep sleeps: counters, the report outbox,
the wake-on-change state and the detector's state, checked with a CRC so a power-on's garbage
is never taken for state. Pure; runs on MicroPython and CPython.

The record: MAGIC, the FIELDS below in their order, the detector's state
(``Detector.to_bytes``), then a CRC32 of all that, little-endian. A node woken by a newer image
reads what the older one wrote, so a change here needs a new MAGIC."""
import struct

from bourg.compat import crc32

MAGIC = b"BPS3"
# (name, struct code) in record order; pack() and unpack() both walk this table. Unsigned
# fields are stored modulo their width (a counter wraps, times are the node's seconds).
FIELDS = (
    ("epoch", "H"),  # bumped at each power-on (kept on flash): the totem's replay guard
    ("seq", "I"),  # the last frame's sequence number in this epoch
    ("changes", "H"),  # changes of state reported in this epoch
    ("flags", "B"),  # 1: occupied, 2: recal (see _FLAG_BITS)
    ("last_change_s", "I"),  # when the state last changed
    ("outbox", "4i"),  # reports.Outbox's state
    ("last_sample_s", "I"),  # when the last sample was taken
    ("armed_at_s", "i"),  # when the magnetometer was armed for wake on change, -1: on a timer
    ("calm_since_s", "I"),  # when the field last settled (see pack)
)
# booleans kept in the flags field, and their bits
_FLAG_BITS = (("occupied", 1), ("recal", 2))
_MASKS = {"H": 0xFFFF, "I": 0xFFFFFFFF}
_HDR = "<4s" + "".join(code for _, code in FIELDS)
HDR_LEN = struct.calcsize(_HDR)


def pack(state, detector_blob):
    """The record for ``state``, a dict with the FIELDS' names (but ``flags``: the booleans
    ``occupied`` and ``recal`` instead). ``outbox``: four ints. ``armed_at_s``: -1 when
    sampling on a timer. ``calm_since_s``: when the field last settled, on the clock the
    totem's answers are in (the detector counts samples, which may each take more than a
    second). ``recal``: the node recalibrated on the totem's request and the totem has not
    yet acked a frame saying so."""
    vals = []
    for name, code in FIELDS:
        if name == "flags":
            flags = 0
            for flag, bit in _FLAG_BITS:
                if state[flag]:
                    flags |= bit
            vals.append(flags)
        elif code in _MASKS:
            vals.append(state[name] & _MASKS[code])
        elif len(code) > 1:
            vals.extend(state[name])
        else:
            vals.append(state[name])
    body = struct.pack(_HDR, MAGIC, *vals) + detector_blob
    return body + struct.pack("<I", crc32(body) & 0xFFFFFFFF)


def unpack(data):
    """The state ``pack`` was given, with ``detector`` (the detector's state, bytes) added, or
    None for anything but a record with its CRC."""
    if data is None or len(data) < HDR_LEN + 4:
        return None
    body, crc = data[:-4], struct.unpack("<I", data[-4:])[0]
    if crc32(body) & 0xFFFFFFFF != crc or body[:4] != MAGIC:
        return None
    u = struct.unpack(_HDR, body[:HDR_LEN])
    state = {}
    at = 1
    for name, code in FIELDS:
        if name == "flags":
            for flag, bit in _FLAG_BITS:
                state[flag] = bool(u[at] & bit)
            at += 1
        elif len(code) > 1:
            n = int(code[:-1])
            state[name] = list(u[at:at + n])
            at += n
        else:
            state[name] = u[at]
            at += 1
    state["detector"] = bytes(body[HDR_LEN:])
    return state
