"""`bourg emulate`: prints the pty first, and mpremote works against it."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _stop(p: subprocess.Popen[str]) -> None:
    """Ctrl-C, then read what is left of its output while it shuts down (a pipe nobody reads
    can block a writer: stderr was never read) and expect a clean exit."""
    p.send_signal(signal.SIGINT)
    try:
        _, err = p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
        raise AssertionError("bourg emulate did not stop on Ctrl-C:\n"
                             + (err or "")[-3000:]) from None
    assert p.returncode == 0, (err or "")[-3000:]


def test_emulate_prints_pty_first_and_mpremote_talks_to_it(tmp_path: Path) -> None:
    p = subprocess.Popen([sys.executable, "-m", "host_tools.cli", "emulate",
                          str(REPO / "board_configs" / "fieldtest-01.json"), "--blank",
                          "--quiet", "--workdir", str(tmp_path)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None
        first = p.stdout.readline().strip()
        assert first.startswith("pty: /dev/"), first
        port = first.split(" ", 1)[1]
        r = subprocess.run([sys.executable, "-m", "mpremote", "connect", port, "exec",
                            "import machine; print(machine.reset_cause(), 6 * 7)"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        # mpremote soft-resets the board as it enters the raw REPL: the port then says
        # SOFT_RESET (ports/esp32/modmachine.c, is_soft_reset)
        assert r.stdout.strip() == "5 42"
    finally:
        _stop(p)


def test_emulate_attaches_the_role_s_peripherals_and_prints_what_they_show(
        tmp_path: Path) -> None:
    """A totem config: its TM1637 and guidance LEDs are on the virtual pins, and their state
    is printed as it changes (dashes and dark LEDs until a sensor reports)."""
    import json
    import selectors
    import time

    key = "00" * 16
    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps({"wifi_password": "pw",
                                   "node_keys": {"ps-a01": key, "ps-a02": key}}))
    p = subprocess.Popen([sys.executable, "-m", "host_tools.cli", "emulate",
                          str(REPO / "board_configs" / "totem-01.json"), "--secrets",
                          str(secrets), "--workdir", str(tmp_path / "w")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    want = {"[world] display A: [----]", "[world] guidance: A01:off A02:off"}
    seen: list[str] = []
    try:
        assert p.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(p.stdout, selectors.EVENT_READ)
        end = time.monotonic() + 30
        while not want <= set(seen) and time.monotonic() < end:
            if sel.select(0.5):
                seen.append(p.stdout.readline().rstrip("\n"))
        assert want <= set(seen), "\n".join(seen)
        assert not any("SAFE MODE" in line for line in seen), "\n".join(seen)
    finally:
        _stop(p)


def test_emulate_takes_commands_on_stdin_a_car_parks_over_a_sensor(tmp_path: Path) -> None:
    """A technician trying a sensor config parks a virtual car over it and sees the node
    decide; a command the board does not take is answered with the ones it does."""
    import json
    import selectors
    import time

    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps({"wifi_password": "pw", "espnow_key": "00" * 16}))
    p = subprocess.Popen([sys.executable, "-m", "host_tools.cli", "emulate",
                          str(REPO / "board_configs" / "ps-a01.json"), "--secrets",
                          str(secrets), "--workdir", str(tmp_path / "w")],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    assert p.stdout is not None and p.stdin is not None
    sel = selectors.DefaultSelector()
    sel.register(p.stdout, selectors.EVENT_READ)
    seen: list[str] = []

    def wait_for(text: str, timeout: float = 30) -> None:
        end = time.monotonic() + timeout
        while not any(text in line for line in seen) and time.monotonic() < end:
            if sel.select(0.5):
                seen.append(p.stdout.readline().rstrip("\n"))  # type: ignore[union-attr]
        assert any(text in line for line in seen), f"no {text!r} in:\n" + "\n".join(seen)

    try:
        assert p.stdout.readline().startswith("pty: /dev/")
        wait_for("heap alloc")  # the node has booted and sampled
        p.stdin.write("fly\n")
        p.stdin.flush()
        wait_for("[world] unknown command 'fly'; this board takes: park, leave")
        p.stdin.write("park\n")
        p.stdin.flush()
        wait_for("[world] a car parks over the sensor")
        wait_for("bay occupied")  # the detector, on the board, after a few samples
    finally:
        _stop(p)
