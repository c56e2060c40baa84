"""`bourg emulate`: prints the pty first, and mpremote works against it."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _stop(p: subprocess.Popen[str]) -> None:
    """Ctrl-C, then read what is left of its output while it shuts down (a pipe nobody reads
    can block a writer: stderr was never read) and expect a clean exit."""
    p.send_signal(signal.SIGINT)
    try:
        _, err = p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGUSR1)  # its threads' stacks, to stderr, before it dies
        try:
            _, err = p.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            _, err = p.communicate()
        raise AssertionError("bourg emulate did not stop on Ctrl-C:\n"
                             + (err or "")[-6000:]) from None
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
                          str(secrets), "--workdir", str(tmp_path / "w"), "--plain-mqtt"],
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


@pytest.mark.slow
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
                          str(secrets), "--workdir", str(tmp_path / "w"), "--plain-mqtt"],
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
        p.stdin.write("fly\npark\n")  # two commands in one write act at once, both
        p.stdin.flush()
        wait_for("[world] unknown command 'fly'; this board takes: park, leave")
        wait_for("[world] a car parks over the sensor")
        wait_for("bay occupied")  # the detector, on the board, after a few samples
    finally:
        _stop(p)


class _Emulate:
    """`bourg emulate ARGS` in the background, its stdout lines collected as they come."""

    def __init__(self, *args: str, cwd: Path | None = None,
                 env: dict[str, str] | None = None) -> None:
        import queue
        import threading

        self.p = subprocess.Popen([sys.executable, "-m", "host_tools.cli", "emulate", *args],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, errors="replace",
                                  cwd=cwd, env=env)
        self.lines: list[str] = []
        self._q: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.p.stdout is not None
        for line in self.p.stdout:
            self._q.put(line.rstrip("\n"))
        self._q.put(None)

    def send(self, line: str) -> None:
        """A command on its stdin, as a technician types it."""
        assert self.p.stdin is not None
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()

    def mark(self) -> int:
        """Where wait_for(start=...) should look from: lines read so far, and any queued."""
        import queue

        while True:
            try:
                line = self._q.get_nowait()
            except queue.Empty:
                return len(self.lines)
            if line is None:
                self._q.put(None)
                return len(self.lines)
            self.lines.append(line)

    def wait_for(self, text: str, timeout: float = 60, start: int = 0) -> str:
        """The first line from line `start` containing text; fails with all the output."""
        import queue
        import time

        for line in self.lines[start:]:
            if text in line:
                return line
        end = time.monotonic() + timeout
        while True:
            try:
                line = self._q.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                raise AssertionError(f"no {text!r} in:\n" + "\n".join(self.lines))
            self.lines.append(line)
            if text in line:
                return line

    def stop(self) -> str:
        """Ctrl-C; returns stderr."""
        self.p.send_signal(signal.SIGINT)
        try:
            self.p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            raise AssertionError("bourg emulate did not stop on Ctrl-C") from None
        assert self.p.stderr is not None
        err = self.p.stderr.read()
        assert self.p.returncode == 0, err[-3000:]
        return err


def _exec(port: str, code: str) -> str:
    r = subprocess.run([sys.executable, "-m", "mpremote", "connect", port, "exec", code],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


_IDS = ("import machine, network, binascii; u = machine.unique_id(); "
        "print(binascii.hexlify(u).decode(), network.WLAN(network.STA_IF).config('mac') == u)")


def test_a_missing_or_invalid_config_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    """As `config show`: exit 2 for a file that cannot be read, 1 for one the board's check
    refuses (docs/field-tools.md, exit codes)."""
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": 1, "device_id": "x"')
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"schema": 1, "device_id": "x", "role": "fieldtest"}')
    cases = [(tmp_path / "nope.json", "cannot read", 2), (bad, "invalid JSON", 1),
             (wrong, "missing", 1)]
    for path, why, code in cases:
        r = subprocess.run([sys.executable, "-m", "host_tools.cli", "emulate", str(path)],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == code, (path, r.stderr)
        assert why in r.stderr and str(path) in r.stderr, r.stderr
        assert "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "host_tools.cli", "emulate",
                        str(REPO / "board_configs" / "fieldtest-01.json"), "--broker",
                        "127.0.0.1:99999"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "port" in r.stderr and "Traceback" not in r.stderr


def test_a_blank_chip_is_flashed_through_its_bootloader_then_boots_micropython(
        tmp_path: Path) -> None:
    """The path from a blank board: the bootloader's socket:// port comes first, `bourg flash`
    writes the pinned image there, and the same board then boots MicroPython with an empty
    filesystem on a pty; esptool's MAC, machine.unique_id() and the STA's MAC agree. An image
    that is not MicroPython leaves it in the bootloader, as a chip would not run it."""
    import json

    sys.path.insert(0, str(REPO / "tests"))
    from test_flash import IMAGE, _image

    good, foreign = tmp_path / "good.bin", tmp_path / "foreign.bin"
    good.write_bytes(IMAGE)
    foreign.write_bytes(_image(banner=b"an Arduino sketch"))
    emu = _Emulate(str(REPO / "board_configs" / "fieldtest-01.json"), "--bootloader",
                   "--quiet", "--workdir", str(tmp_path / "w"))
    try:
        url = emu.wait_for("bootloader: ").split(" ", 1)[1]
        assert emu.lines[0].startswith("bootloader: socket://127.0.0.1:"), emu.lines
        flash = [sys.executable, "-m", "host_tools.cli", "flash", "--port", url, "--json"]
        r = subprocess.run([*flash, str(foreign)], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        emu.wait_for("the board cannot boot: no MicroPython banner")
        r = subprocess.run([*flash, str(good)], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        mac = json.loads(r.stdout)["mac"].replace(":", "")
        port = emu.wait_for("pty: ").split(" ", 1)[1]
        # /sim is where the virtual board's own modules are mounted, not a file of the board's
        assert _exec(port, "import os; print([f for f in os.listdir('/') if f != 'sim'])") \
            == "[]"
        assert _exec(port, _IDS) == f"{mac} True"
    finally:
        emu.stop()


def test_each_virtual_board_has_its_own_unique_id_and_keeps_it(tmp_path: Path) -> None:
    """Two virtual boards of one config, in two workdirs, are two chips: a second one can be
    provisioned. The same workdir is the same chip on the next run."""
    cfg = str(REPO / "board_configs" / "fieldtest-01.json")
    ids = []
    for workdir in ("a", "b", "a"):
        emu = _Emulate(cfg, "--blank", "--quiet", "--workdir", str(tmp_path / workdir))
        try:
            ids.append(_exec(emu.wait_for("pty: ").split(" ", 1)[1], _IDS))
        finally:
            emu.stop()
    assert ids[0] != ids[1] and ids[0] == ids[2], ids
    assert all(i.endswith(" True") for i in ids), ids


def test_the_documented_command_boots_the_app_with_dev_or_registry_secrets(
        tmp_path: Path) -> None:
    """`bourg emulate board_configs/pole-01.json` as written, from a directory with no
    registry: the app runs (no SAFE MODE) on throwaway dev secrets, and says so. With the
    board registered, the board gets its own secrets from the registry."""
    import json
    import os

    from host_tools.field.registry import Registry

    cfg = str(REPO / "board_configs" / "pole-01.json")
    env = {k: v for k, v in os.environ.items() if k != "BOURG_REGISTRY"}
    env["PYTHONPATH"] = str(REPO)
    emu = _Emulate(cfg, "--workdir", str(tmp_path / "w1"), cwd=tmp_path, env=env)
    try:
        emu.wait_for("runtime: app-ready")
        assert not any("SAFE MODE" in line for line in emu.lines), emu.lines
    finally:
        err = emu.stop()
    assert "throwaway dev secrets" in err, err
    reg_path = tmp_path / "registry" / "bourg-registry.sqlite"
    with Registry(reg_path) as reg:
        reg.set_site("demo-town", "bourg-demo", "site-wifi-pw")
        reg.add("pole-01", "lighting", "demo-town")
        want = reg.secrets("pole-01")
    emu = _Emulate(cfg, "--workdir", str(tmp_path / "w2"), cwd=tmp_path, env=env)
    try:
        emu.wait_for("wifi: connected to bourg-demo")
        port = emu.lines[0].split(" ", 1)[1]
        assert json.loads(_exec(port, "print(open('/secrets.json').read())")) == want
    finally:
        err = emu.stop()
    assert "from the registry registry/bourg-registry.sqlite" in err, err


def test_broker_host_and_port_both_reach_the_board(tmp_path: Path) -> None:
    """--broker 127.0.0.1:PORT: the board's MQTT connection arrives on PORT, not on the
    config's 1883."""
    import json
    import socket

    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps({"wifi_password": "pw"}))
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        srv.settimeout(60)
        port = srv.getsockname()[1]
        emu = _Emulate(str(REPO / "board_configs" / "fieldtest-01.json"), "--secrets",
                       str(secrets), "--quiet", "--broker", f"127.0.0.1:{port}",
                       "--workdir", str(tmp_path / "w"), "--plain-mqtt")
        try:
            emu.wait_for("pty: ")
            conn, _ = srv.accept()  # the board's MQTT client, through its network link
            conn.close()
        finally:
            emu.stop()


@pytest.mark.slow
def test_a_blank_board_through_the_documented_path_to_an_opened_compartment(
        tmp_path: Path) -> None:
    """docs/field-tools.md from a blank chip, with its commands as written: flash through the
    simulated bootloader, provision, deploy, config diff, hil, then a locker code issued from
    the registry and typed on the bank's keypad opens the compartment."""
    import json
    import os

    sys.path.insert(0, str(REPO / "tests"))
    from test_flash import IMAGE

    env = {**os.environ, "BOURG_REGISTRY": str(tmp_path / "registry.sqlite")}
    (tmp_path / "wifi.txt").write_text("demo-wifi-pass\n")
    image = tmp_path / "ESP32_GENERIC-20260406-v1.28.0.bin"
    image.write_bytes(IMAGE)
    cfg = "board_configs/locker-01.json"

    def bourg(*args: str, timeout: float = 180) -> str:
        r = subprocess.run([sys.executable, "-m", "host_tools.cli", *args], capture_output=True,
                           text=True, timeout=timeout, cwd=REPO, env=env)
        assert r.returncode == 0, (args, r.stdout[-2000:], r.stderr[-2000:])
        assert "Traceback" not in r.stderr
        return r.stdout

    bourg("provision", "site", "demo-town", "--ssid", "bourg-demo", "--wifi-password-file",
          str(tmp_path / "wifi.txt"))
    emu = _Emulate(cfg, "--bootloader", "--workdir", str(tmp_path / "w"), cwd=REPO, env=env)
    try:
        url = emu.wait_for("bootloader: ").split(" ", 1)[1]
        bourg("flash", str(image), "--port", url)
        port = emu.wait_for("pty: ").split(" ", 1)[1]
        bourg("provision", "add", cfg, "--port", port, "--location", "Market square")
        mark = emu.mark()
        bourg("deploy", cfg, "--port", port)
        emu.wait_for("NTP sync ok", 60, start=mark)
        assert "same config" in bourg("config", "diff", cfg, "--port", port)
        mark = emu.mark()
        bourg("hil", "--port", port, "-k", "test_exec_reports_board_exceptions", "--", "-q",
              timeout=300)
        emu.wait_for("NTP sync ok", 60, start=mark)  # hil put the bank's app back
        issued = json.loads(bourg("locker", "issue", "--bank", "locker-01", "--compartment",
                                  "2", "--kind", "deposit", "--from", "now"))
        mark = emu.mark()
        emu.send(f"type {issued['code']}")
        emu.wait_for("code: ok", 30, start=mark)
        emu.wait_for("unlocks: 1:0 2:1 3:0", 10, start=mark)  # compartment 2's lock, once
        assert json.loads(bourg("provision", "list", "--json"))[0]["device_id"] == "locker-01"
    finally:
        emu.stop()


def test_a_world_line_never_lands_at_the_end_of_a_board_s_unfinished_line(capfd) -> None:  # noqa: ANN001
    """The board printed 'app-ready' and not yet its newline when the display changed: the
    '[world]' line starts a line of its own (the CI run that saw it glued failed)."""
    from host_tools.testing.emulate import _Echo
    from host_tools.testing.rigs import by_role

    class Board:
        out = b"[12 I] runtime: app-ready"

        def console_since(self, mark: int) -> bytes:
            return self.out[mark:]

    devs = by_role.RoleDevices()
    devs.shows["display A"] = lambda: "[----]"
    show = _Echo(Board(), devs)
    show()
    Board.out += b"\n[13 I] next\n"
    show()
    lines = capfd.readouterr().out.splitlines()
    assert lines == ["[12 I] runtime: app-ready", "[world] display A: [----]", "[13 I] next"]
