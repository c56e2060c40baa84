"""The node's half of the radio protocol: what a wake sends, and what the totem's answer means.
Pure; runs on MicroPython and CPython.

Why a module of its own: sensor_app drives it with the ESP-NOW radio, and the host's row
replay drives the same object with a modelled one, so both send the same frames for the same
wake and read the same ACKs. The totem does not import it: its heap is the tighter one.
"""
import reports


def flags(occupied, moving=False, low_battery=False, recalibrated=False):
    """A frame's flags from what the node knows now."""
    return (reports.OCCUPIED if occupied else 0) | (reports.MOVING if moving else 0) | \
        (reports.LOW_BATTERY if low_battery else 0) | \
        (reports.RECALIBRATED if recalibrated else 0)


class Uplink:
    """One node's frames in one epoch: its sequence numbers and its outbox (a report waiting
    for its ACK, the heartbeat's schedule). `seq` and `box.s` are what the node keeps across
    deep sleeps."""

    def __init__(self, key, node, epoch, seq, box):
        self.key = key
        self.node = node
        self.epoch = epoch
        self.seq = seq
        self.box = box  # reports.Outbox

    def report(self, now_s):
        """A change (or the power-on announcement) to report: the next seq, retried until
        the totem acks it or a later frame."""
        self.seq += 1
        self.box.report(self.seq, now_s)

    def plan(self, now_s, question=False, moving=False):
        """What this wake sends, as (kind, wait), or None: a report retry or a heartbeat when
        due; otherwise an early heartbeat to ask the totem about the neighbours (it awaits the
        ACK) or to say the field moves (the radio's own acknowledgement is enough, and the
        receiver stays off: most of a frame's cost)."""
        kind = self.box.due(now_s)
        if kind is not None:
            return kind, True
        if question or moving:
            return "heartbeat", question
        return None

    def frame(self, kind, now_s, fl, confidence, health, battery_mv, temp_c, changes, since_s):
        """The frame for plan()'s kind, counted as sent. A heartbeat takes the next seq; a
        report's retry takes the current one, the newest the node has used."""
        if kind == "heartbeat":
            self.seq += 1
        f = reports.encode(self.key, reports.REPORT if kind == "report" else reports.HEARTBEAT,
                           self.node, self.epoch, self.seq, fl, confidence, health, battery_mv,
                           temp_c, changes, since_s)
        self.box.sent(kind, now_s)
        return f

    def ack_of(self, data):
        """The totem's ACK of the frame just sent, decoded; None for anything else (another
        node's, an older frame's, a forgery, garbage)."""
        try:
            f = reports.decode(self.key, data)
        except reports.FrameError:
            return None
        if f["type"] == reports.ACK and f["node"] == self.node and \
                f["epoch"] == self.epoch and f["seq"] == self.seq:
            return f
        return None

    def settle(self, ack):
        """The answer to the frame just sent (None: none came). Every frame carries the bay's
        whole state, so its ACK settles a pending report too."""
        if ack is not None:
            self.box.acked(self.seq)
