"""Virtual time (host_tools/emulator/clock.py): the world skips what every board only waits
through, and everything that keeps time on a board or in the world follows the one clock.

Most tests here wait hours or days of the boards' time, which in real time would not end
within their timeouts; the others check that the world does not skip while a board works or
a reply is on its way."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from host_tools.emulator import Board, World
from host_tools.emulator.waiting import wait_until
from host_tools.field.mosquitto import Mosquitto
from host_tools.field.mqtt_watch import Watcher
from host_tools.testing.rigs.street import WIFI, add_pole, pole_config

from .fleet import add_board, fieldtest_config

pytestmark = pytest.mark.emulator_only


def _board(world: World, name: str, main: str) -> Board:
    b = world.add_board({"device_id": name, "site": "hil"}, {"main.py": main})
    b.start()
    return b


def _number(b: Board, pattern: str) -> int:
    m = re.search(pattern, b.output_text())
    assert m, f"{pattern!r} not in:\n{b.output_text()[-2000:]}"
    return int(m.group(1))


SLEEPS = """
import time, asyncio
t0 = time.ticks_ms(); s0 = time.time()
time.sleep(3600)
print("slept", time.ticks_diff(time.ticks_ms(), t0), time.time() - s0)
async def main():
    t1 = time.ticks_ms()
    await asyncio.sleep_ms(600000)
    await asyncio.sleep(600)
    print("async", time.ticks_diff(time.ticks_ms(), t1))
asyncio.run(main())
"""


def test_sleeps_and_asyncio_take_no_real_time(vworld: World) -> None:
    """An hour of time.sleep and 20 minutes of asyncio sleeps, on ticks_ms and on the RTC;
    the ticks wrap (2**30) is crossed on the way."""
    b = _board(vworld, "sleeper", SLEEPS)
    b.wait_output(r"async \d+", 20)
    # what the board's own work takes between sleeps is real time: a few ms, more on a
    # loaded host
    assert 3_600_000 <= _number(b, r"slept (\d+) ") < 3_605_000
    assert _number(b, r"slept \d+ (\d+)") in (3600, 3601)
    assert 1_200_000 <= _number(b, r"async (\d+)") < 1_205_000
    assert vworld.clock.skipped_ms >= 4_700_000


def test_watchdog_fires_at_its_time_not_at_the_end_of_a_sleep(vworld: World) -> None:
    """The world skips to the watchdog's deadline: a board that starves it for a day is
    reset after its 5 s, as on the chip."""
    main = ("import machine, time\nprint('cause', machine.reset_cause())\n"
            "if machine.reset_cause() != machine.WDT_RESET:\n"
            "    machine.WDT(timeout=5000)\n    time.sleep(86400)\n    print('never')\n")
    b = _board(vworld, "starved", main)
    b.wait_output("cause 3", 20)
    assert b.history == ["PWRON_RESET", "WDT_RESET"]
    assert "never" not in b.output_text()
    # and the new VM, booting, is not taken for the old one still asleep
    assert 5_000 <= vworld.clock.skipped_ms < 60_000


DEEP = """
import machine, time
rtc = machine.RTC()
if machine.reset_cause() != machine.DEEPSLEEP_RESET:
    rtc.datetime((2026, 3, 1, 0, 12, 0, 0, 0))
    print("to sleep", time.time())
    machine.deepsleep(6 * 3600 * 1000)
print("woke", machine.wake_reason(), time.time())
"""


def test_deep_sleep_lasts_its_time_and_the_rtc_runs_through_it(vworld: World) -> None:
    b = _board(vworld, "deep", DEEP)
    b.wait_output(r"woke \d+ \d+", 20)
    assert _number(b, r"woke (\d+)") == 4  # TIMER_WAKE
    asleep_s = _number(b, r"woke \d+ (\d+)") - _number(b, r"to sleep (\d+)")
    assert 6 * 3600 <= asleep_s <= 6 * 3600 + 5
    assert b.awake_s < 60  # the battery estimates count only the time it ran


SNTP = f"""
import ntptime, time, network
w = network.WLAN(network.STA_IF); w.active(True); w.connect("{WIFI[0]}", "{WIFI[1]}")
while not w.isconnected():
    time.sleep_ms(100)
time.sleep(2 * 86400)
ntptime.host = "pool.ntp.org"
ntptime.settime()
print("unix", time.time() + 946684800)
"""


def test_sntp_and_the_boards_rtc_tell_the_same_virtual_time(vworld: World) -> None:
    """After two days skipped, the SNTP responder answers with the world's clock, which is
    the one the board's RTC runs on."""
    b = _board(vworld, "ntp", SNTP)
    b.wait_output(r"unix \d+", 20)
    assert abs(_number(b, r"unix (\d+)") - vworld.wall_time()) < 5
    assert vworld.clock.skipped_ms >= 2 * 86_400_000


BUSY = """
import time, utime
time.sleep(1)
v0 = time.ticks_ms(); r0 = utime.ticks_ms()
while utime.ticks_diff(utime.ticks_ms(), r0) < 300:
    pass
time.sleep_ms(0)  # reads the world's news: a skip during the loop would show now
print("busy", time.ticks_diff(time.ticks_ms(), v0) - utime.ticks_diff(utime.ticks_ms(), r0))
"""


def test_no_time_is_skipped_while_a_board_computes(vworld: World) -> None:
    """A board in a busy loop sees the host's time: the world skips nothing while one board
    works, though the other only waits (utime is the VM's own clock, the overlay's time the
    world's)."""
    _board(vworld, "waiter", "import time\ntime.sleep(7 * 86400)\n")
    b = _board(vworld, "busy", BUSY)
    b.wait_output(r"busy -?\d+", 20)
    assert abs(_number(b, r"busy (-?\d+)")) < 1000  # not the other board's week


def test_holding_the_clock_stops_skips(vworld: World) -> None:
    with vworld.hold_clock():
        b = _board(vworld, "held", "import time\ntime.sleep(1)\nprint('done')\n")
        b.wait_output("done", 10)
        assert vworld.clock.skipped_ms == 0


def test_a_step_inside_a_hold_skips_to_its_end_and_no_further(vworld: World) -> None:
    """World.step, as a typist uses it: the board's hour-long sleep is not reached by ten
    one-second steps, each skipped, and the clock is held again after each."""
    b = _board(vworld, "stepper", "import time\nprint('asleep')\ntime.sleep(3600)\n"
                                  "print('woke')\n")
    with vworld.hold_clock():
        b.wait_output("asleep", 20)
        t0 = vworld.clock.now()
        for _ in range(10):
            vworld.step(1.0)
            assert vworld.clock._holds == 1, "held again after the step, once"
        moved = vworld.clock.now() - t0
        assert 10.0 <= moved < 3600
        assert vworld.clock.skipped_ms >= 5000, "the steps were skipped, not waited through"
        assert "woke" not in b.output_text()
    b.wait_output("woke", 20)  # let go: the world skips to the board's deadline


def test_a_step_outside_a_hold_or_on_the_worlds_loop_is_refused(vworld: World) -> None:
    """A step hands over a hold: without one it would wipe out another thread's; on the
    world's loop it would wait for the loop it blocks."""
    with pytest.raises(RuntimeError, match="not held"):
        vworld.step(1.0)
    assert vworld.clock._holds == 0
    with vworld.hold_clock():
        with pytest.raises(RuntimeError, match="not from the loop"):
            vworld.call_fn(vworld.step, 1.0)
        assert vworld.clock._holds == 1


def test_a_pole_keeps_its_broker_through_virtual_minutes(tmp_path: Path, mosquitto: Mosquitto,
                                                         ops: Watcher) -> None:
    """A pole on a real mosquitto for ninety virtual seconds: the replies of a broker the
    world cannot foresee are waited for (clock.QUIET_S), so no ping or PUBACK is missed and
    the link never drops; its state messages come at the virtual pace."""
    with World(tmp_path / "world", access_points={WIFI[0]: WIFI[1]}, clock="virtual") as w:
        pole = add_pole(w, pole_config("pole-v", 0, port=mosquitto.port), mosquitto)
        pole.board.start()
        pole.board.wait_output("mqtt: connected", 30)
        start = w.clock.now()
        wait_until(lambda: w.clock.now() - start > 90, 120,
                   lambda: f"virtual time stalled at {w.clock.now() - start:.0f} s")
        assert w.clock.skipped_ms >= 30_000  # it waited between its polls, and was skipped
        out = pole.board.output_text()
        assert out.count("mqtt: connected") == 1, out[-3000:]
        assert pole.board.history == ["PWRON_RESET"]
        assert len(ops.on("/pole-v/state")) >= 90 // 5 - 2  # state_ms 5000


QUIET_APP = """
from bourg import runtime


class Quiet:
    def __init__(self, rt):
        pass


runtime.run(Quiet)
"""


def _publish_to_board_after(b: Board, start: float) -> float | None:
    return min((t for t, down, first in b.link.carried
                if t > start and down and first >> 4 == 3), default=None)


def test_an_idle_link_sleeps_to_its_deadlines_and_wakes_for_a_command(
        tmp_path: Path, mosquitto: Mosquitto, ops: Watcher) -> None:
    """A board with nothing to do but its MQTT link (keepalive 10 s: a ping every 5 s). For
    two virtual minutes the link wakes for its pings and their answers, not 20 times a
    second; a command that comes while it sleeps is answered at once on the world's clock,
    not at the link's next deadline (the world would skip to it if the broker's bytes did
    not wake the link)."""
    with World(tmp_path / "world", access_points={WIFI[0]: WIFI[1]}, clock="virtual") as w:
        cfg = fieldtest_config("quiet", port=mosquitto.port)
        b = add_board(w, mosquitto, cfg)
        b.install({"/main.py": QUIET_APP}, format=False)
        b.start()
        b.wait_output("mqtt: connected", 30)
        w.elapse(120, timeout=120)
        for i in range(3):
            # the command comes from outside the world, which cannot know it is on its way:
            # hold the clock until its bytes (an MQTT PUBLISH, 0x3_) have reached the board
            with w.hold_clock():
                start = w.clock.now()
                ops.publish("bourg/hil/quiet/cmd/status", b"{}")
                wait_until(lambda s=start: _publish_to_board_after(b, s) is not None, 10,
                           "the command reaching the board")
            came = _publish_to_board_after(b, start)
            assert came is not None
            ops.wait_for(lambda ms, n=i + 1: len([m for m in ms
                                                  if m.topic.endswith("/reply/status")]) == n, 20)
            # its first bytes back (the PUBACK of the command, then the reply)
            answered = min(t for t, down, _ in b.link.carried if t > came and not down)
            assert answered - came < 1.0, [(round(t - came, 3), d, hex(f))
                                           for t, d, f in b.link.carried if t > came - 6]
        st = json.loads(ops.on("/quiet/reply/status")[-1].payload)
        assert st["connects"] == 1 and st["last_error"] is None
        # about two wakes per ping (the ping, its answer) and one per command: 60 or so
        assert 40 <= st["wakes"] <= 150, st


ASKS = f"""
import network, time, utime, socket, select
w = network.WLAN(network.STA_IF); w.active(True); w.connect("{WIFI[0]}", "{WIFI[1]}")
while not w.isconnected():
    time.sleep_ms(100)
s = socket.socket()
s.connect(socket.getaddrinfo("peer", PORT)[0][-1])
s.write(b"q")
p = select.poll(); p.register(s, select.POLLIN)
print("answered", len(p.poll(60000)))
v0 = time.ticks_ms(); r0 = utime.ticks_ms()
while utime.ticks_diff(utime.ticks_ms(), r0) < 300:
    pass
time.sleep_ms(0)
print("jump", time.ticks_diff(time.ticks_ms(), v0) - utime.ticks_diff(utime.ticks_ms(), r0))
"""


def test_no_skip_over_a_request_or_its_answer(vworld: World) -> None:
    """A board connects, asks a server and waits a minute for the answer. The world must not
    skip the minute while the request is in the proxy (even before the proxy has accepted
    the connection), nor while the board handles the answer (a busy loop of 300 ms). A
    server that takes longer than clock.QUIET_S to answer is the design's stated limit."""
    import socket
    import threading
    import time

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def serve() -> None:
        c, _ = srv.accept()
        with c:
            c.recv(1)
            c.sendall(b"x")
            time.sleep(2)

    threading.Thread(target=serve, daemon=True).start()
    vworld.dns["peer"] = f"127.0.0.1:{srv.getsockname()[1]}"
    try:
        b = _board(vworld, "asker", ASKS.replace("PORT", "80"))
        b.wait_output(r"jump -?\d+", 30)
        assert _number(b, r"answered (\d+)") == 1
        assert abs(_number(b, r"jump (-?\d+)")) < 1000
        assert vworld.clock.skipped_ms < 30_000
    finally:
        srv.close()


LISTENS = f"""
import network, time, socket, select, _world
w = network.WLAN(network.STA_IF); w.active(True); w.connect("{WIFI[0]}", "{WIFI[1]}")
while not w.isconnected():
    time.sleep_ms(100)
s = socket.socket()
s.connect(socket.getaddrinfo("peer", 80)[0][-1])
p = select.poll(); p.register(s, select.POLLIN)
print("connected")
for i in range(4):
    p.poll(600000)
    print("read", _world.now_ms(), s.read(1))
"""


def test_a_board_reads_network_bytes_on_the_worlds_time(vworld: World,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A board waits ten minutes for a server while another wakes every 7 s, so the world
    skips in steps the waiting board is not told of. Each byte the server sends must find
    the board on the world's time: told before the byte reaches it, even when the host is
    slow to send what follows the byte (here the nudge, 50 ms late). A board that read it on
    the time it last knew saw its MQTT keepalive expire early."""
    import socket
    import threading

    from host_tools.emulator.board import Board as _B

    nudge = _B._nudge

    def late_nudge(self: _B) -> None:
        self.world.loop.call_later(0.05, nudge, self)

    monkeypatch.setattr(_B, "_nudge", late_nudge)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    conns: list[socket.socket] = []
    threading.Thread(target=lambda: conns.append(srv.accept()[0]), daemon=True).start()
    vworld.dns["peer"] = f"127.0.0.1:{srv.getsockname()[1]}"
    try:
        _board(vworld, "ticker", "import time\nwhile True:\n    time.sleep(7)\n")
        b = _board(vworld, "listener", LISTENS)
        b.wait_output("connected", 30)
        wait_until(lambda: conns, 10, "the board never connected")
        for i in range(4):
            skipped = vworld.clock.skipped_ms
            wait_until(lambda s=skipped: vworld.clock.skipped_ms >= s + 20_000, 30,
                       "the world skipped no 20 s")
            sent_ms = vworld.clock.now_ms()
            conns[0].sendall(b"x")
            b.wait_output(rf"(read \d+ b'x'\s+){{{i + 1}}}", 20)
            read_ms = [int(m) for m in re.findall(r"read (\d+) b'x'", b.output_text())][i]
            assert read_ms >= sent_ms - 5, f"byte {i} read {sent_ms - read_ms} ms in the past"
    finally:
        for c in conns:
            c.close()
        srv.close()
