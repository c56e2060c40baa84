"""What a sensor node keeps in RTC memory between deep sleeps: counters, the report outbox,
the wake-on-change state and the detector's state, checked with a CRC so a power-on's garbage
is never taken for state. Pure; runs on MicroPython and CPython."""
import struct

from bourg.compat import crc32

MAGIC = b"BPS3"
_HDR = "<4sHIHBIiiiiIiI"
HDR_LEN = struct.calcsize(_HDR)


def pack(epoch, seq, changes, occupied, last_change_s, outbox, last_sample_s, armed_at_s,
         calm_since_s, detector_blob, recal=False):
    """armed_at_s: when the magnetometer was armed for wake on change, or -1 (sampling on a
    timer). calm_since_s: when the field last settled, on the clock the totem's answers are
    in (the detector counts samples, which may each take more than a second). recal: the
    node recalibrated on the totem's request and the totem has not yet acked a frame saying
    so."""
    body = struct.pack(_HDR, MAGIC, epoch & 0xFFFF, seq & 0xFFFFFFFF, changes & 0xFFFF,
                       (1 if occupied else 0) | (2 if recal else 0),
                       last_change_s & 0xFFFFFFFF, outbox[0], outbox[1], outbox[2], outbox[3],
                       last_sample_s & 0xFFFFFFFF,
                       armed_at_s, calm_since_s & 0xFFFFFFFF) + detector_blob
    return body + struct.pack("<I", crc32(body) & 0xFFFFFFFF)


def unpack(data):
    """(epoch, seq, changes, occupied, last_change_s, outbox, last_sample_s, armed_at_s,
    calm_since_s, detector_blob, recal) or None."""
    if data is None or len(data) < HDR_LEN + 4:
        return None
    body, crc = data[:-4], struct.unpack("<I", data[-4:])[0]
    if crc32(body) & 0xFFFFFFFF != crc or body[:4] != MAGIC:
        return None
    m, epoch, seq, changes, occ, last, o0, o1, o2, o3, ls, armed, calm = struct.unpack(
        _HDR, body[:HDR_LEN])
    return (epoch, seq, changes, bool(occ & 1), last, [o0, o1, o2, o3], ls, armed, calm,
            bytes(body[HDR_LEN:]), bool(occ & 2))
