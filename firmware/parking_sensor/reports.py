"""Sensor -> totem radio frames (ESP-NOW payloads), authenticated per node. Pure; runs on
MicroPython and CPython.

Layout v1, little endian, 31 bytes:
  off len field
   0   1  magic 0xB8
   1   1  version 1
   2   1  type: 1 REPORT (state change), 2 HEARTBEAT (same fields), 3 ACK (totem -> node)
   3   1  flags: bit 0 occupied, bit 1 recalibrated, bit 2 low battery, bit 3 (ACK only)
          neighbours: bytes 19..22 say when a neighbour bay of the node's last changed,
          bit 4 moving: a vehicle is manoeuvring over this node's sensor right now
   4   2  node number (from the node's config; the totem maps it to a bay and a key)
   6   2  epoch (node's boot counter, kept in RTC memory and on flash)
   8   4  seq (per node and epoch; an ACK carries the seq it acknowledges)
  12   1  confidence, percent
  13   1  health, percent
  14   2  battery, mV
  16   1  temperature, degC (signed)
  17   2  state changes since the node was installed (saturates)
  19   4  time of the last change, seconds before this frame (saturates); in an ACK with
          the neighbours flag, of the last change of any neighbour bay (0xFFFFFFFF: none yet)
  23   8  tag: HMAC-SHA256(node key, bytes 0..22) truncated to 8 bytes

An ACK is made with the node's key too, so only the totem that knows the key can silence a
node's retries, or tell it about its neighbours. decode() raises only FrameError.
"""
import struct

from bourg.auth import FrameError, check_frame, hmac_sha256  # noqa: F401 - FrameError: API

MAGIC = 0xB8
VERSION = 1
REPORT, HEARTBEAT, ACK = 1, 2, 3
OCCUPIED, RECALIBRATED, LOW_BATTERY, NEIGHBOURS, MOVING = 1, 2, 4, 8, 16
# an ACK's since_s covers only some neighbours (a space beside has no sensor, or one is
# unheard): a bit of its own, so a node that predates it reads no word and decides alone
SOME_NEIGHBOURS = 32
NONE = 0xFFFFFFFF  # no neighbour change known yet (an ACK's since_s)
_FMT = "<BBBBHHIBBHbHI"
BODY_LEN = struct.calcsize(_FMT)  # 23
TAG_LEN = 8
FRAME_LEN = BODY_LEN + TAG_LEN


def _c(v, lo, hi):
    v = int(v)
    return lo if v < lo else hi if v > hi else v


def encode(key, ftype, node, epoch, seq, flags=0, confidence=0, health=0, battery_mv=0,
           temp_c=0, changes=0, since_s=0):
    if ftype not in (REPORT, HEARTBEAT, ACK):
        raise FrameError("bad type")
    body = struct.pack(_FMT, MAGIC, VERSION, ftype, flags & 0xFF, node & 0xFFFF,
                       epoch & 0xFFFF, seq & 0xFFFFFFFF, _c(confidence, 0, 100),
                       _c(health, 0, 100), _c(battery_mv, 0, 65535), _c(temp_c, -128, 127),
                       _c(changes, 0, 65535), _c(since_s, 0, 0xFFFFFFFF))
    return body + hmac_sha256(key, body)[:TAG_LEN]


def peek_node(data):
    """The node number of a frame, to choose the key to check it with (None if not ours)."""
    if len(data) != FRAME_LEN or data[0] != MAGIC:
        return None
    return data[4] | (data[5] << 8)


def decode(key, data):
    body = check_frame(key, data, FRAME_LEN, MAGIC, VERSION, TAG_LEN)
    (_m, _v, ftype, flags, node, epoch, seq, conf, health, mv, temp, changes,
     since) = struct.unpack(_FMT, body)
    if ftype not in (REPORT, HEARTBEAT, ACK):
        raise FrameError("bad type")
    return {"type": ftype, "occupied": bool(flags & OCCUPIED), "flags": flags, "node": node,
            "epoch": epoch, "seq": seq, "confidence": conf, "health": health,
            "battery_mv": mv, "temp_c": temp, "changes": changes, "since_s": since}


def neighbour_age(ack):
    """What an ACK says of the node's neighbours, for Detector.neighbour_hint: (seconds since
    one last changed, -1 for none yet, or None for no word; whether that covers them all)."""
    if ack is None or not ack["flags"] & (NEIGHBOURS | SOME_NEIGHBOURS):
        return None, False
    age = -1 if ack["since_s"] == NONE else ack["since_s"]
    return age, bool(ack["flags"] & NEIGHBOURS)


def newer(epoch, seq, last):
    """Is (epoch, seq) after last = (epoch, seq) or None? Epochs wrap at 16 bits."""
    if last is None:
        return True
    le, ls = last
    if epoch != le:
        return ((epoch - le) & 0xFFFF) < 0x8000
    return seq > ls


class Outbox:
    """The node's side: a report waits for its ACK and is retried with a growing delay, at
    most `tries` times; a newer report replaces it. Heartbeats are due every heartbeat_s.
    State is a short list so the app can keep it in RTC memory across deep sleeps."""

    def __init__(self, heartbeat_s=1800, tries=5, retry_s=2, state=None):
        self.heartbeat_s = heartbeat_s
        self.tries = tries
        self.retry_s = retry_s
        # [pending seq or -1, tries left, next retry time, last heartbeat/report time]
        self.s = list(state) if state else [-1, 0, 0, -10 ** 9]

    def report(self, seq, now_s):
        self.s[0], self.s[1], self.s[2], self.s[3] = seq, self.tries, now_s, now_s

    def acked(self, seq):
        """The totem acknowledged frame `seq`. Every frame carries the bay's whole state, so
        an ACK of the pending report or of any later frame settles the report. (A heartbeat
        sent while a report waits, to ask about the neighbours, takes the next seq, and the
        report's retries carry the newest seq: their ACKs never name the report's own.)"""
        if 0 <= self.s[0] <= seq:
            self.s[0] = -1
            return True
        return False

    def due(self, now_s):
        """What to send now: "report" (a retry of the pending one), "heartbeat" or None."""
        if self.s[0] >= 0 and now_s >= self.s[2]:
            if self.s[1] <= 0:
                self.s[0] = -1  # given up: the next heartbeat carries the state
                return None
            return "report"
        if self.s[0] < 0 and now_s - self.s[3] >= self.heartbeat_s:
            return "heartbeat"
        return None

    def sent(self, kind, now_s):
        if kind == "report":
            self.s[1] -= 1
            self.s[2] = now_s + self.retry_s * (self.tries - self.s[1])
        self.s[3] = now_s

    def pending(self):
        return self.s[0] >= 0

    def next_due(self):
        """When due() will next have something to send (a retry or the heartbeat)."""
        if self.s[0] >= 0:
            return self.s[2]
        return self.s[3] + self.heartbeat_s
