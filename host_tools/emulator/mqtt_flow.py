"""Which of a board's MQTT requests still wait for the broker's answer, read off the bytes a
network link carries (netlink.py).

Why: in virtual time the world may skip only when no answer is on its way. For a protocol it
cannot read, it guesses: no byte for `clock.QUIET_S`, which costs that much real time after
every byte a board sends. MQTT says which packets the broker answers (CONNECT, a PUBLISH
with QoS 1 or 2, SUBSCRIBE, UNSUBSCRIBE, PINGREQ; MQTT 3.1.1, section 2.2.1), so on a plain
MQTT connection the world counts the answers due instead, and waits for exactly them, however
long the broker takes. A connection whose first bytes are not an MQTT CONNECT (TLS, HTTP, a
raw socket) is not MQTT to this module: the quiet period stays its guard.

Not covered: a message the broker routes from one board to another board's subscription (no
board here subscribes to another's topics; the quiet period after the other board's bytes
does not apply either), and the retained messages that follow a SUBACK in the same write.
"""

from __future__ import annotations

# packet type (high nibble of the first byte) -> the type of its answer
_ANSWERS = {1: 2, 8: 9, 10: 11, 12: 13}  # CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ
_PUBLISH, _PUBACK, _PUBREC, _PUBREL, _PUBCOMP = 3, 4, 5, 6, 7


class MqttFlow:
    """Feed it each chunk in both directions; `due` is how many answers the board waits
    for, plus one while a packet from the board is only partly through."""

    def __init__(self) -> None:
        self.mqtt: bool | None = None  # None until the board's first bytes say
        self._waiting: list[int] = []  # answer types due, in order
        self._up = bytearray()  # the board's bytes not yet a whole packet
        self._down = bytearray()  # the broker's
        self.held = 0  # how many of them the world's clock has been told (netlink.py)

    @property
    def due(self) -> int:
        return len(self._waiting) + (1 if self._up else 0)

    def feed(self, data: bytes, to_board: bool) -> None:
        if self.mqtt is None and not to_board:
            self.mqtt = data[:1] == b"\x10"
        if not self.mqtt:
            return
        buf = self._down if to_board else self._up
        buf += data
        while True:
            n = _packet_len(buf)
            if n is None and len(buf) >= 5:  # no length in 4 bytes: not MQTT after all
                self._forget()  # what the clock holds is given back at the next hold()
                self.mqtt = False
                return
            if n is None or n > len(buf):
                return
            kind = buf[0] >> 4
            qos = (buf[0] >> 1) & 3
            del buf[:n]
            if to_board:
                self._answered(kind)
            else:
                self._asked(kind, qos)

    def hold(self) -> int:
        """What to add to the clock's in-flight count so that it holds `due`."""
        delta, self.held = self.due - self.held, self.due
        return delta

    def close(self) -> int:
        """The connection ended: nothing is due any more. Returns what to add to the clock's
        in-flight count (minus what it held)."""
        self._forget()
        return self.hold()

    def _forget(self) -> None:
        self._waiting.clear()
        self._up.clear()
        self._down.clear()

    def _asked(self, kind: int, qos: int) -> None:
        if kind == _PUBLISH:
            if qos == 1:
                self._waiting.append(_PUBACK)
            elif qos == 2:
                self._waiting.append(_PUBREC)
        elif kind == _PUBREL:
            self._waiting.append(_PUBCOMP)
        elif kind in _ANSWERS:
            self._waiting.append(_ANSWERS[kind])

    def _answered(self, kind: int) -> None:
        if kind in self._waiting:
            self._waiting.remove(kind)


def _packet_len(buf: bytearray) -> int | None:
    """Length of the whole packet at the start of buf (fixed header + remaining length), or
    None while its header is incomplete."""
    n, shift = 0, 0
    for i in range(1, min(len(buf), 5)):
        b = buf[i]
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            return 1 + i + n
        shift += 7
    return None
