"""What a sensor node keeps in RTC memory between deep sleeps: counters, the report outbox and
the detector's state, checked with a CRC so a power-on's garbage is never taken for state.
Pure; runs on MicroPython and CPython."""
import struct

from bourg.compat import crc32

MAGIC = b"BPS1"
_HDR = "<4sHIHBIiiii"
HDR_LEN = struct.calcsize(_HDR)


def pack(epoch, seq, changes, occupied, last_change_s, outbox, detector_blob):
    body = struct.pack(_HDR, MAGIC, epoch & 0xFFFF, seq & 0xFFFFFFFF, changes & 0xFFFF,
                       1 if occupied else 0, last_change_s & 0xFFFFFFFF, outbox[0],
                       outbox[1], outbox[2], outbox[3]) + detector_blob
    return body + struct.pack("<I", crc32(body) & 0xFFFFFFFF)


def unpack(data):
    """(epoch, seq, changes, occupied, last_change_s, outbox, detector_blob) or None."""
    if data is None or len(data) < HDR_LEN + 4:
        return None
    body, crc = data[:-4], struct.unpack("<I", data[-4:])[0]
    if crc32(body) & 0xFFFFFFFF != crc or body[:4] != MAGIC:
        return None
    m, epoch, seq, changes, occ, last, o0, o1, o2, o3 = struct.unpack(_HDR, body[:HDR_LEN])
    return epoch, seq, changes, bool(occ), last, [o0, o1, o2, o3], bytes(body[HDR_LEN:])
