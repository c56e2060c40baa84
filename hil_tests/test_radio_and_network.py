"""The world's radio medium (ESP-NOW) and each board's network link."""

from __future__ import annotations

import re
import socket
import threading

import pytest

from host_tools.emulator import RadioMedium, World

SENDER = """
import network, espnow, time
sta = network.WLAN(network.STA_IF); sta.active(True)
e = espnow.ESPNow(); e.active(True)
bc = b"\\xff" * 6
e.add_peer(bc)
time.sleep_ms(300)
for i in range(20):
    e.send(bc, b"hello %d" % i)
    time.sleep_ms(5)
try:
    e.send(b"\\x01\\x02\\x03\\x04\\x05\\x06", b"x")
except OSError as ex:
    print("unknown peer:", ex)
try:
    e.send(bc, b"x" * 251)
except ValueError as ex:
    print("too long:", ex)
print("sent")
"""

RECEIVER = """
import network, espnow, time
sta = network.WLAN(network.STA_IF); sta.active(True)
e = espnow.ESPNow(); e.active(True)
e.config(rxbuf=8000)
got = 0
print("listening")
while True:
    mac, msg = e.recv(1500)
    if mac is None:
        break
    got += 1
print("got", got, "from", mac if mac else "-")
"""


def _pole(world: World, name: str, x: float, main: str):
    return world.add_board({"device_id": name, "site": "hil", "emulator": {"x": x, "y": 0}},
                           {"main.py": main})


@pytest.mark.emulator_only
def test_espnow_broadcast_reaches_boards_in_range_only(world: World) -> None:
    near = _pole(world, "near", 50, RECEIVER)
    far = _pole(world, "far", 500, RECEIVER)
    tx = _pole(world, "tx", 0, SENDER)
    near.start(), far.start()
    near.wait_output("listening"), far.wait_output("listening")
    tx.start()
    tx.wait_output("sent", 10)
    near.wait_output(r"got \d+", 10)
    far.wait_output(r"got \d+", 10)
    assert "got 20" in near.output_text()
    assert "got 0" in far.output_text()
    out = tx.output_text()
    # the port's OSError(-esp_err, name) (mphalport.c check_esp_err)
    assert "unknown peer: (-12393, 'ESP_ERR_ESPNOW_NOT_FOUND')" in out
    assert "too long: msg too long" in out


@pytest.mark.emulator_only
def test_espnow_loss_is_applied(tmp_path) -> None:
    with World(tmp_path / "w", radio=RadioMedium(loss=0.5, seed=7)) as world:
        rx = _pole(world, "rx", 10, RECEIVER)
        tx = _pole(world, "tx", 0, SENDER)
        rx.start()
        rx.wait_output("listening")
        tx.start()
        rx.wait_output(r"got \d+", 15)
        import re
        got = int(re.search(r"got (\d+)", rx.output_text()).group(1))
        assert 3 <= got <= 17


NET_MAIN = """
import network, socket, time
sta = network.WLAN(network.STA_IF); sta.active(True)
sta.connect("bourg-test", "test-wifi-pass")
while not sta.isconnected():
    time.sleep_ms(20)
print("ip", sta.ifconfig()[0])
def talk(tag):
    try:
        s = socket.socket()
        s.settimeout(2)
        s.connect(socket.getaddrinfo("echo.test", ECHO_PORT)[0][-1])
        s.send(b"ping\\n")
        print(tag, s.recv(10))
        s.close()
    except OSError as e:
        print(tag, "error", e)
talk("first")
import machine
pin = machine.Pin(4, machine.Pin.IN, machine.Pin.PULL_UP)
while pin.value():
    time.sleep_ms(20)
talk("second")
print("done")
"""


@pytest.mark.emulator_only
def test_network_link_cut_and_restore(world: World) -> None:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(5)
    port = srv.getsockname()[1]

    def echo() -> None:
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            with c:
                data = c.recv(100)
                c.sendall(data.upper())

    threading.Thread(target=echo, daemon=True).start()
    world.dns["echo.test"] = "127.0.0.1"
    from host_tools.emulator.parts import Switch

    b = world.add_board({"device_id": "net", "site": "hil"},
                        {"main.py": NET_MAIN.replace("ECHO_PORT", str(port))})
    sw = b.attach(Switch(4))
    b.start()
    b.wait_output("first", 10)
    b.wait_output(re.escape("first b'PING\\n'"), 5)  # the whole line, not its first bytes
    b.link.cut()
    sw.press()
    b.wait_output("done", 10)
    assert "second error" in b.output_text()
    srv.close()


@pytest.mark.emulator_only
def test_wifi_wrong_password_and_no_network(world: World) -> None:
    main = """
import network, socket, time
sta = network.WLAN(network.STA_IF); sta.active(True)
try:
    socket.getaddrinfo("mqtt.test", 1883)
except OSError as e:
    print("resolve offline", e)
sta.connect("bourg-test", "wrong")
time.sleep_ms(300)
print("status", sta.status(), sta.isconnected())
"""
    b = world.add_board({"device_id": "wifi", "site": "hil"}, {"main.py": main})
    b.start()
    b.wait_output(r"status \d+ \w+\n", 5)  # the whole line
    out = b.output_text()
    assert "resolve offline -202" in out
    assert "status 202 False" in out


@pytest.mark.emulator_only
def test_rtc_starts_at_2000_and_ntp_sets_it(world: World) -> None:
    import time as host_time

    main = """
import network, time, ntptime
print("before", time.localtime()[0])
sta = network.WLAN(network.STA_IF); sta.active(True)
sta.connect("bourg-test", "test-wifi-pass")
while not sta.isconnected():
    time.sleep_ms(20)
ntptime.settime()
print("after", time.time() + 946684800)
"""
    b = world.add_board({"device_id": "ntp", "site": "hil"}, {"main.py": main})
    b.start()
    b.wait_output(r"after \d+", 5)
    import re
    out = b.output_text()
    assert "before 2000" in out
    unix = int(re.search(r"after (\d+)", out).group(1))
    assert abs(unix - host_time.time()) < 5
