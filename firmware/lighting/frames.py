"""Neighbour-wave radio frames (ESP-NOW payloads): compact, versioned, authenticated.

Pure; runs on MicroPython and CPython. Layout v1, little endian, 43 bytes (ESP-NOW allows 250):

  off len field
   0   1  magic 0xB7
   1   1  version (1)
   2   1  type: 1 PRESENCE (start or refresh), 2 CLEAR (origin's presence ended)
   3   1  hops: high nibble = hops travelled, low nibble = hops left (ttl)
   4   6  src MAC (the sender of this frame; a relaying pole puts its own)
  10   2  src epoch (boot counter of the sender, persisted by the app)
  12   4  src seq (per sender and epoch, +1 per frame)
  16   6  origin MAC (the pole that saw the presence)
  22   4  origin event id (origin's seq of the event's first frame)
  26   4  origin position x, decimetres along the street (signed)
  30   1  direction of travel inferred by the origin: -1, 0 unknown, +1
  31   2  speed estimate, cm/s (0 unknown)
  33   2  age: ms since the origin's presence started (saturates at 65535)
  35   8  tag: HMAC-SHA256(site key, bytes 0..34) truncated to 8 bytes

decode() raises only FrameError (bad length, magic, version, type or tag); everything that
passes has a valid tag for the site key. Replays are caught by ReplayWindow on (src, epoch, seq).
"""
import struct

from bourg.auth import FrameError, ReplayWindow, check_frame, hmac_sha256  # noqa: F401 - API

MAGIC = 0xB7
VERSION = 1
PRESENCE = 1
CLEAR = 2
TAG_LEN = 8
_FMT = "<BBBB6sHI6sIibHH"
BODY_LEN = struct.calcsize(_FMT)  # 35
FRAME_LEN = BODY_LEN + TAG_LEN  # 43


def _clamp(v, lo, hi):
    return lo if v < lo else hi if v > hi else v


def encode(key, ftype, src, epoch, seq, origin, event_id, x_dm, direction=0, speed_cms=0,
           age_ms=0, hops=0, ttl=0):
    if ftype not in (PRESENCE, CLEAR):
        raise FrameError("bad type")
    if len(src) != 6 or len(origin) != 6:
        raise FrameError("MAC must be 6 bytes")
    body = struct.pack(_FMT, MAGIC, VERSION, ftype, (_clamp(hops, 0, 15) << 4) | _clamp(ttl, 0, 15),
                       bytes(src), epoch & 0xFFFF, seq & 0xFFFFFFFF, bytes(origin),
                       event_id & 0xFFFFFFFF, _clamp(int(x_dm), -2147483647, 2147483647),
                       _clamp(int(direction), -1, 1), _clamp(int(speed_cms), 0, 65535),
                       _clamp(int(age_ms), 0, 65535))
    return body + hmac_sha256(key, body)[:TAG_LEN]


def decode(key, data):
    """Verified frame as a dict, or FrameError."""
    body = check_frame(key, data, FRAME_LEN, MAGIC, VERSION, TAG_LEN)
    (_m, _v, ftype, hops, src, epoch, seq, origin, event_id, x_dm, direction, speed,
     age) = struct.unpack(_FMT, body)
    if ftype not in (PRESENCE, CLEAR) or direction not in (-1, 0, 1):
        raise FrameError("bad field")
    return {"type": ftype, "hops": hops >> 4, "ttl": hops & 15, "src": src, "epoch": epoch,
            "seq": seq, "origin": origin, "event": event_id, "x_dm": x_dm, "dir": direction,
            "speed_cms": speed, "age_ms": age}


def mac_str(mac):
    return ":".join("%02x" % b for b in mac)
