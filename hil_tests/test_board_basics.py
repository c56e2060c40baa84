"""Foundation HIL tests: the serial REPL, resets, deep sleep and the watchdog."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from host_tools.emulator import Board, World
from host_tools.field.serialboard import SerialBoard

MPREMOTE = [sys.executable, "-m", "mpremote"]


def _mpremote(port: str, *args: str) -> str:
    r = subprocess.run(MPREMOTE + ["connect", port, *args], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, f"mpremote {args} failed: {r.stdout}{r.stderr}"
    return r.stdout


def _started(world: World, name: str, files: dict[str, str] | str, until: str,
             timeout: float) -> Board:
    """A board running `files` (or just this main.py), once its console shows `until`."""
    b = world.add_board({"device_id": name, "site": "hil"},
                        {"main.py": files} if isinstance(files, str) else files)
    b.start()
    b.wait_output(until, timeout)
    return b


def test_mpremote_round_trip(target: SerialBoard, tmp_path: Path) -> None:
    """Copy a file in with mpremote, run it, read its output and the file back."""
    src = tmp_path / "hil_probe.py"
    src.write_text("def answer():\n    return 6 * 7\nprint('probe', answer())\n")
    port = target.port
    target.close()
    _mpremote(port, "fs", "cp", str(src), ":hil_probe.py")
    assert "hil_probe.py" in _mpremote(port, "fs", "ls")
    assert "probe 42" in _mpremote(port, "exec", "import hil_probe")
    assert "probe 42" in _mpremote(port, "run", str(src))
    assert _mpremote(port, "fs", "cat", "hil_probe.py") == src.read_text()
    _mpremote(port, "fs", "rm", ":hil_probe.py")
    assert "hil_probe.py" not in _mpremote(port, "fs", "ls")


def test_exec_reports_board_exceptions(target: SerialBoard) -> None:
    from host_tools.field.serialboard import TransportExecError

    with pytest.raises(TransportExecError, match="ZeroDivisionError"):
        target.exec("1/0")
    assert target.exec("print(1 + 1)").strip() == "2"


WDT_MAIN = """
import machine, time
print("cause", machine.reset_cause())
if machine.reset_cause() != machine.WDT_RESET:
    wdt = machine.WDT(timeout=300)
    for i in range(3):
        wdt.feed()
        time.sleep_ms(100)
    print("starving")
    while True:
        time.sleep_ms(50)
print("recovered")
"""


@pytest.mark.emulator_only
def test_watchdog_starvation_resets_with_wdt_cause(world: World) -> None:
    b = _started(world, "wdt", WDT_MAIN, "starving", 5)
    b.wait_output("recovered", 5)
    assert b.history == ["PWRON_RESET", "WDT_RESET"]
    assert "cause 3" in b.output_text()


@pytest.mark.emulator_only
def test_fed_watchdog_does_not_reset(world: World) -> None:
    main = ("import machine, time\nw = machine.WDT(timeout=200)\n"
            "for i in range(15):\n    w.feed()\n    time.sleep_ms(50)\nprint('done')\n")
    b = _started(world, "wdtok", main, "done", 5)
    assert b.history == ["PWRON_RESET"]


TICKS_MAIN = """
import time
t0 = time.ticks_ms()
print("boot ticks", t0, time.ticks_us())
while time.ticks_diff(time.ticks_ms(), t0) < 600:
    time.sleep_ms(50)
t1 = time.ticks_ms()
try:
    time.ticks_add(t1, 1 << 29)
except OverflowError as e:
    print("half a period:", e)
print("later us", time.ticks_us())
print("later ticks", t1, "diff", time.ticks_diff(t1, t0))
"""


@pytest.mark.emulator_only
def test_ticks_wrap_soon_after_each_boot(world: World) -> None:
    """ticks_ms wraps at 2**30 ms on the 32-bit chip, after 12.4 days (the 64-bit VM's own
    ticks would wrap at 2**62): a virtual board starts it Board.ticks_before_wrap_ms before
    the wrap, so code that compares raw ticks fails in the tests. Here the wrap comes 300 ms
    after boot, within the board's loop, for ticks_us too."""
    b = world.add_board({"device_id": "ticks", "site": "hil"}, {"main.py": TICKS_MAIN})
    b.ticks_before_wrap_ms = 300
    b.start()
    b.wait_output(r"later ticks \d+ diff \d+", 10)
    boot = re.search(r"boot ticks (\d+) (\d+)", b.output_text())
    later = re.search(r"later ticks (\d+) diff (\d+)", b.output_text())
    assert boot and later
    period = 1 << 30
    assert period - 300 <= int(boot.group(1)) < period  # before the wrap at boot...
    assert int(later.group(1)) < int(boot.group(1))  # ...after it later
    assert 600 <= int(later.group(2)) < 5_000  # and ticks_diff spans the wrap
    later_us = re.search(r"later us (\d+)", b.output_text())
    assert later_us and int(later_us.group(1)) < int(boot.group(2))  # ticks_us wrapped too
    assert "half a period: ticks interval overflow" in b.output_text()  # extmod/modtime.c


@pytest.mark.emulator_only
def test_running_time_between_deep_sleeps_covers_its_light_sleeps(world: World) -> None:
    """A battery estimate read while a board runs (bourg parking battery): the running time
    so far counts the light sleeps it holds, so running minus light sleep is never negative."""
    main = ("import machine, time\nmachine.lightsleep(300)\nmachine.lightsleep(300)\n"
            "print('slept')\nwhile True:\n    time.sleep_ms(50)\n")
    b = _started(world, "light", main, "slept", 10)
    assert b.sleeps == 0 and b.light_sleeps == 2 and b.light_s == 0.6
    assert b.awake_so_far_s() - b.light_s >= 0 > b.awake_s - b.light_s


SLEEP_MAIN = """
import machine
rtc = machine.RTC()
n = rtc.memory()
count = int(n) if n else 0
print("wake", machine.reset_cause(), machine.wake_reason(), "count", count)
if count < 2:
    rtc.memory(str(count + 1).encode())
    machine.deepsleep(300)
print("awake for good")
"""


@pytest.mark.emulator_only
def test_deepsleep_zero_wakes_at_once_and_no_argument_never(world: World) -> None:
    """modmachine.c arms the timer for any argument: deepsleep(0) is a timer wake at once
    (not a sleep without end), deepsleep() has no timer and waits for ext0/ext1."""
    main = ("import machine\nrtc = machine.RTC()\nprint('wake', machine.wake_reason())\n"
            "if not rtc.memory():\n    rtc.memory(b'1')\n    machine.deepsleep(0)\n"
            "print('for good')\nmachine.deepsleep()\n")
    b = _started(world, "zero", main, "for good", 10)
    b.wait_state("sleeping", 10)
    assert "wake 4" in b.output_text()  # TIMER_WAKE after deepsleep(0)
    assert b.history == ["PWRON_RESET", "DEEPSLEEP_RESET"]
    assert b._wake_handle is None  # deepsleep(): nothing will wake it but a pin


@pytest.mark.emulator_only
def test_deep_sleep_wakes_with_rtc_memory(world: World) -> None:
    b = world.add_board({"device_id": "sleepy", "site": "hil"}, {"main.py": SLEEP_MAIN})
    t0 = time.monotonic()
    b.start()
    b.wait_output("awake for good", 10)
    assert time.monotonic() - t0 >= 0.6  # two sleeps of 300 ms really passed
    text = b.output_text()
    assert "wake 1 0 count 0" in text
    assert "wake 4 4 count 1" in text  # DEEPSLEEP_RESET, TIMER_WAKE
    assert "wake 4 4 count 2" in text
    assert b.history == ["PWRON_RESET", "DEEPSLEEP_RESET", "DEEPSLEEP_RESET"]


@pytest.mark.emulator_only
def test_power_cut_loses_rtc_memory_but_keeps_flash(world: World) -> None:
    main = ("import machine\nprint('mem', machine.RTC().memory())\n"
            "machine.RTC().memory(b'kept')\n"
            "with open('/note.txt', 'w') as f:\n    f.write('on flash')\n"
            "print('written')\n")
    b = _started(world, "cut", main, "written", 5)
    b.power_cut()
    assert b.state == "off"
    mark = b.console_mark()
    b.power_on()
    b.wait_output("written", 5, start=mark)
    assert b.output_text().count("mem b''") == 2
    b.stop()
    assert b.read_flash()["/note.txt"] == b"on flash"


ERASE_MAIN = """
import gc, os
buf = bytearray(1024)
gc.collect()
gc.disable()
a = gc.mem_alloc()
for i in range(4):
    with open('/f%d' % i, 'wb') as f:
        for _ in range(12):
            f.write(buf)
    os.remove('/f%d' % i)
b = gc.mem_alloc()
gc.enable()
print('alloc', b - a)
"""


def test_writing_flash_takes_no_block_sized_buffers_from_the_heap(world: World) -> None:
    """48 KB written and removed erases a dozen 4 KB blocks or more. On the chip an erase
    allocates nothing from the MicroPython heap; if the virtual board did (4 KB a time), a
    fragmented board would fail where the chip does not (it failed over-the-air updates)."""
    b = _started(world, "erase", ERASE_MAIN, r"alloc \d+", 10)
    m = re.search(r"alloc (\d+)", b.output_text())
    assert m is not None and int(m.group(1)) < 4096, b.output_text()


@pytest.mark.emulator_only
def test_machine_reset_reports_hard_reset(world: World) -> None:
    """machine.reset() is esp_restart(): ESP_RST_SW, which ports/esp32/modmachine.c reports as
    HARD_RESET (the ROM prints SW_CPU_RESET)."""
    main = ("import machine\nprint('cause', machine.reset_cause())\n"
            "if machine.reset_cause() == machine.PWRON_RESET:\n    machine.reset()\n")
    b = _started(world, "rst", main, "cause 2", 5)
    assert b.history == ["PWRON_RESET", "HARD_RESET"]
    assert "rst:0xc (SW_CPU_RESET)" in b.output_text()


def _type(b, data: bytes) -> None:
    """Keys on the board's serial port, as a terminal sends them."""
    import os

    fd = os.open(b.pty_path, os.O_RDWR | os.O_NOCTTY)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


@pytest.mark.emulator_only
def test_soft_reboot_reports_soft_reset(world: World) -> None:
    """Ctrl-D at the REPL and machine.soft_reset() reboot the VM, not the chip: from then on
    reset_cause() is SOFT_RESET (main.c calls machine_deinit, which sets is_soft_reset), and
    the ROM prints no reset banner."""
    main = ("import machine, os\nprint('cause', machine.reset_cause())\n"
            "if machine.reset_cause() == machine.SOFT_RESET and 'n' not in os.listdir():\n"
            "    open('/n', 'w').write('1')\n    machine.soft_reset()\n"
            "print('at repl')\n")
    b = _started(world, "soft", main, r"at repl\r?\n(.*\n)*>>> ", 5)
    mark = b.console_mark()
    _type(b, b"\x04")  # Ctrl-D at the friendly REPL
    b.wait_output("at repl", 10, start=mark)
    out = b.output_since(mark)
    assert out.count("cause 5") == 2 and out.count("MPY: soft reboot") == 2
    assert "rst:" not in out
    assert b.history == ["PWRON_RESET", "SOFT_RESET", "SOFT_RESET"]


@pytest.mark.emulator_only
@pytest.mark.parametrize("loop", [
    # an app that collects often: a Ctrl-C lands inside gc.collect() more often than not
    "import gc, time\nkeep = [str(i) for i in range(2000)]\nprint('looping')\n"
    "while True:\n    for _ in range(50):\n"
    "        gc.collect()\n    time.sleep_ms(1)\n",
    # a busy loop that never polls, sleeps or touches a peripheral
    "print('looping')\nn = 0\nwhile True:\n    n += 1\n",
], ids=["collecting", "busy"])
def test_ctrl_c_stops_a_running_app_and_never_resets_the_board(world: World, loop: str) -> None:
    """What mpremote and bourg deploy do to a running board: Ctrl-C, the raw REPL, then a soft
    reboot back into main.py. On the chip the Ctrl-C is a KeyboardInterrupt wherever it lands;
    the virtual board must not die of it (the Unix VM, signalled inside gc.collect(), did)."""
    b = _started(world, "ctrlc", loop, "looping", 5)
    for _ in range(6):
        sb = SerialBoard(b.pty_path)
        try:
            assert sb.exec("print(6 * 7)").strip() == "42"
            mark = b.console_mark()
            sb.soft_reboot_into_app()
        finally:
            sb.close()
        b.wait_output("looping", 10, start=mark)
    out = b.output_text()
    assert out.count("KeyboardInterrupt") == 6 and "VM exited" not in out
    assert b.history == ["PWRON_RESET"] + ["SOFT_RESET"] * 6


@pytest.mark.emulator_only
def test_sleep_times_take_only_ints(world: World) -> None:
    """time.sleep_ms/sleep_us and machine.lightsleep/deepsleep read their argument with
    mp_obj_get_int on the port: a float (say, from a config) is a TypeError; time.sleep takes
    a float."""
    main = ("import machine, time\n"
            "def err(f):\n    try:\n        f()\n        return 'ok'\n"
            "    except TypeError as e:\n        return str(e)\n"
            "print('S1', err(lambda: time.sleep_ms(1.5)))\n"
            "print('S2', err(lambda: time.sleep_us(2.0)))\n"
            "print('S3', err(lambda: machine.lightsleep(10.0)))\n"
            "print('S4', err(lambda: machine.deepsleep(100.0)))\n"
            "print('S5', err(lambda: time.sleep(0.01)), err(lambda: time.sleep_ms(True)))\n")
    b = _started(world, "ints", main, r"S5 .*\n", 5)
    out = b.output_text()
    for k in ("S1", "S2", "S3", "S4"):
        assert f"{k} can't convert float to int" in out
    assert "S5 ok ok" in out
    assert b.history == ["PWRON_RESET"]  # deepsleep(100.0) did not sleep


@pytest.mark.emulator_only
def test_main_py_runs_only_if_boot_py_succeeds(world: World) -> None:
    """ports/esp32/main.c runs main.py only when pyexec_file_if_exists("boot.py") returned
    non-zero: a boot.py that raises leaves the board at the REPL without its app; SystemExit
    in boot.py is a soft reboot."""
    files = {"boot.py": "print('boot', 1 / 0)\n", "main.py": "print('main ran')\n"}
    b = _started(world, "bootfail", files, r"ZeroDivisionError.*\r?\n(.*\n)*>>> ", 5)
    assert "main ran" not in b.output_text()

    files = {"boot.py": "import machine\nprint('boot', machine.reset_cause())\n"
                        "if machine.reset_cause() == machine.PWRON_RESET:\n"
                        "    raise SystemExit\n",
             "main.py": "print('main ran')\n"}
    b2 = _started(world, "bootexit", files, "main ran", 5)
    out = b2.output_text()
    assert out.index("boot 1") < out.index("MPY: soft reboot") < out.index("boot 5")
    assert out.count("main ran") == 1
    assert b2.history == ["PWRON_RESET", "SOFT_RESET"]


@pytest.mark.emulator_only
def test_watchdog_survives_a_soft_reboot(world: World) -> None:
    """machine.WDT cannot be stopped: a soft reboot leaves the task watchdog running (its user
    handle is a static in ports/esp32/machine_wdt.c), and a board that then sits at the REPL
    is reset by it."""
    main = ("import machine\nprint('cause', machine.reset_cause())\n"
            "if machine.reset_cause() == machine.PWRON_RESET:\n"
            "    machine.WDT(timeout=500)\n    machine.soft_reset()\n")
    b = _started(world, "wdtsoft", main, "cause 3", 10)
    assert b.history == ["PWRON_RESET", "SOFT_RESET", "WDT_RESET"]


WIRE_MAIN = """
from machine import Pin
o = Pin(4, Pin.OUT, value=1)
i = Pin(5, Pin.IN, Pin.PULL_UP)
bad = 0
for n in range(20):
    o.value(n % 2)
    bad += i.value() != n % 2
print("mismatches", bad)
"""


@pytest.mark.emulator_only
def test_a_pin_read_sees_what_an_earlier_write_caused_on_a_slow_host(world: World) -> None:
    """GPIO4 is wired to GPIO5 through a device model that takes 30 ms to react, as a loaded
    host would. On the chip the read right after the write sees the new level; the emulated
    board must too, or a keypad scan on a loaded host reads held keys as released."""
    from host_tools.emulator.parts import Device

    class SlowWire(Device):
        def on_pin(self, gpio: int, level: int) -> None:
            if gpio == 4:
                time.sleep(0.03)
                assert self.board is not None
                self.board._drive(5, level)

    b = world.add_board({"device_id": "wire", "site": "hil"}, {"main.py": WIRE_MAIN})
    b.attach(SlowWire())
    b.start()
    b.wait_output(r"mismatches \d+\r?\n", 10)  # the whole line, not its first bytes
    assert "mismatches 0\n" in b.output_text()
