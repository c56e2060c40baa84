"""The virtual world's count of the MQTT answers a board waits for (emulator/mqtt_flow.py):
in virtual time it holds the clock while one is due, so it must never lose one (the world
would skip over the broker's answer) nor keep one (the world would never skip again)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from host_tools.emulator.mqtt_flow import MqttFlow

CONNECT = bytes([0x10, 12]) + b"\x00\x04MQTT\x04\x02\x00\x1e\x00\x00"
CONNACK = b"\x20\x02\x00\x00"
PINGREQ, PINGRESP = b"\xc0\x00", b"\xd0\x00"
SUBSCRIBE = b"\x82\x08\x00\x01\x00\x03a/b\x01"
SUBACK = b"\x90\x03\x00\x01\x01"


def publish(qos: int, body: bytes = b"x" * 200) -> bytes:
    """A PUBLISH whose remaining length takes two bytes (over 127)."""
    var = b"\x00\x03a/b" + (b"\x00\x07" if qos else b"") + body
    n = len(var)
    return bytes([0x30 | qos << 1, n & 0x7F | 0x80, n >> 7]) + var


PUBACK = b"\x40\x02\x00\x07"


def test_each_request_is_due_until_its_answer_reaches_the_board() -> None:
    f = MqttFlow()
    f.feed(CONNECT, to_board=False)
    assert f.mqtt and f.due == 1
    f.feed(CONNACK, to_board=True)
    assert f.due == 0
    f.feed(SUBSCRIBE + publish(0) + publish(1) + PINGREQ, to_board=False)
    assert f.due == 3  # SUBACK, PUBACK, PINGRESP; a QoS 0 PUBLISH has no answer
    f.feed(SUBACK + PINGRESP, to_board=True)
    assert f.due == 1
    f.feed(publish(1), to_board=True)  # the broker's own PUBLISH answers nothing of ours
    assert f.due == 1
    f.feed(PUBACK, to_board=True)
    assert f.due == 0


def test_a_packet_partly_through_holds_the_clock_until_it_is_whole() -> None:
    f = MqttFlow()
    f.feed(CONNECT + CONNACK[:0], to_board=False)
    f.feed(CONNACK, to_board=True)
    p = publish(0)
    f.feed(p[:2], to_board=False)  # the length's first byte only
    assert f.due == 1
    f.feed(p[2:], to_board=False)
    assert f.due == 0


def test_what_the_clock_holds_follows_due_and_is_released_at_close() -> None:
    f = MqttFlow()
    f.feed(CONNECT, to_board=False)
    assert f.hold() == 1 and f.hold() == 0
    f.feed(PINGREQ, to_board=False)
    assert f.hold() == 1
    assert f.close() == -2 and f.due == 0 and f.hold() == 0


def test_tls_and_other_protocols_are_not_counted() -> None:
    for first in (b"\x16\x03\x01\x02\x00\x01", b"GET / HTTP/1.1\r\n", b"q"):
        f = MqttFlow()
        f.feed(first, to_board=False)
        f.feed(CONNECT + PINGREQ, to_board=False)
        assert f.mqtt is False and f.due == 0


def test_a_server_that_speaks_first_is_not_mqtt() -> None:
    f = MqttFlow()
    f.feed(b"220 smtp ready\r\n", to_board=True)
    f.feed(CONNECT, to_board=False)
    assert f.mqtt is True  # the board's first bytes decide
    g = MqttFlow()
    g.feed(b"\x10\xff\xff\xff\xff\x01", to_board=False)  # no length within four bytes
    assert g.mqtt is False and g.due == 0


def test_bytes_found_not_mqtt_give_back_what_the_clock_held() -> None:
    f = MqttFlow()
    f.feed(CONNECT, to_board=False)
    assert f.hold() == 1
    f.feed(b"\x20\xff\xff\xff\xff", to_board=True)  # the broker's: no length in 4 bytes
    assert f.mqtt is False and f.hold() == -1 and f.close() == 0


SESSION_UP = [CONNECT, SUBSCRIBE, publish(1), publish(0), PINGREQ, publish(1, b"y" * 20)]
SESSION_DOWN = [CONNACK, SUBACK, PUBACK, PINGRESP, PUBACK]


@given(st.lists(st.integers(1, 64), min_size=1, max_size=40),
       st.lists(st.integers(1, 64), min_size=1, max_size=40))
def test_any_chunking_counts_the_same(up_cuts: list[int], down_cuts: list[int]) -> None:
    """TCP may cut the streams anywhere: the count after all of it does not depend on where."""
    f = MqttFlow()
    up, down = b"".join(SESSION_UP), b"".join(SESSION_DOWN)
    for data, cuts, to_board in ((up, up_cuts, False), (down, down_cuts, True)):
        i = 0
        for n in cuts * (len(data) // sum(cuts) + 1):
            if i >= len(data):
                break
            f.feed(data[i:i + n], to_board)
            assert f.due >= 0
            i += n
    assert f.due == 0 and f.hold() == 0
