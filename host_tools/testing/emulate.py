"""One virtual board from a board config, with its role's rig, its serial console on a pty
that mpremote can open: the work of `bourg emulate` (run), whose arguments, messages and exit
codes are host_tools.commands.emulate's. run_board prints `pty: /dev/pts/N` first.

Input the board cannot start with is a BadInput (UnusableInput, or BoardWouldRefuse for a config
or secrets the board's own check refuses); what the technician should know about the run comes
as a Note through the caller's callback. Neither carries an exit code or the command's
`bourg emulate:` prefix: the command adds those.

The app is installed with the secrets host_tools.field.board_secrets gives (a --secrets file,
else the board's own from the registry), else with throwaway dev secrets. A board may instead
start blank, keep its flash, or start as a blank chip held in its serial bootloader
(serve_bootloader: `bootloader: socket://127.0.0.1:PORT` first, the port for `bourg flash`)
until esptool has written the pinned MicroPython, which the same board then boots.
"""

from __future__ import annotations

import ipaddress
import os
import selectors
import socket
import sqlite3
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from host_tools.build import firmware
from host_tools.emulator.board import FLASH_SIZE, efuse_mac
from host_tools.emulator.world import World
from host_tools.testing.rigs import by_role

# The ESP32_GENERIC 4 MiB layout (ports/esp32/partitions-4MiB.csv): bootloader at 0x1000, the
# app up to 0x200000, then the "vfs" partition, which is the virtual board's flash.img.
BOOT_OFFSET = 0x1000
VFS_OFFSET = 0x200000
FIRMWARE_FILE = "firmware.bin"  # the chip's flash below VFS_OFFSET, as esptool left it

# What a board starts with: its app (installed now), an empty filesystem (a freshly flashed
# MicroPython), or whatever its flash holds already (kept, or written by esptool).
StartWith = Literal["app", "blank", "keep"]
# run() may also start it as a blank chip held in its serial bootloader: it then boots what
# esptool wrote ("keep").
FromBootloader = Literal["bootloader"]


class BadInput(Exception):
    """Input a virtual board cannot start with; the message says which and why."""


class UnusableInput(BadInput):
    """What cannot be read or used: a file, the broker's address, a registry."""


class BoardWouldRefuse(BadInput):
    """A config or secrets the board's own check refuses: the board would only reach SAFE
    MODE, so it is not started (as `bourg config show` and `bourg deploy` refuse them)."""


@dataclass(frozen=True)
class Note:
    """Something the technician should know about the run. `caveat`: a choice made for them
    that they may not expect (dev secrets, an option that is not used), as opposed to where
    something comes from or what to do next."""

    text: str
    caveat: bool = False


NoteSink = Callable[[Note], None]


# -- input --------------------------------------------------------------------------------------
def load_config(path: Path) -> dict[str, Any]:
    """The config, checked by the board's own validator: a board that would only reach SAFE
    MODE is refused here, with the same file, key and reason: UnusableInput for a file that
    cannot be read, BoardWouldRefuse for a config the check fails."""
    from host_tools.field.boardconfig import (
        BoardConfigError,
        BoardConfigUnreadable,
        load_and_validate,
    )

    try:
        return load_and_validate(path)
    except BoardConfigError as e:
        if isinstance(e, BoardConfigUnreadable):
            raise UnusableInput(str(e)) from None
        raise BoardWouldRefuse(str(e)) from None


def broker_dns(broker: str, config: dict[str, Any], note: NoteSink) -> dict[str, str]:
    """{the config's MQTT host: "ip[:port]"}: the board resolves its broker's name to HOST and,
    when PORT is given, connects there whatever port its config names. A config with no
    broker gets none, with a note."""
    text = broker.removeprefix("mqtt://").removeprefix("tcp://")
    host, sep, port_s = text.rpartition(":") if ":" in text else (text, "", "")
    if sep and not (port_s.isdigit() and 0 < int(port_s) < 65536):
        raise UnusableInput(f"--broker {broker!r}: the port must be a number from 1 to "
                            "65535")
    try:
        ip = host if _is_ipv4(host) else socket.gethostbyname(host)
    except OSError:
        raise UnusableInput(f"--broker {broker!r}: cannot resolve {host!r}") from None
    mqtt_host = config.get("network", {}).get("mqtt", {}).get("host")
    if not mqtt_host:
        note(Note(f"{config['device_id']} has no MQTT broker in its config; --broker is not "
                  "used", caveat=True))
        return {}
    return {mqtt_host: f"{ip}:{port_s}" if sep else ip}


def _is_ipv4(host: str) -> bool:
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return True


def secrets_for(config: dict[str, Any], secrets_file: Path | None, registry: Path | None,
                note: NoteSink) -> dict[str, Any]:
    """What the app's /secrets.json gets: the --secrets file; else the board's own from the
    registry (as `bourg deploy` would install them); else, for a board not registered,
    throwaway dev secrets, said in a note (never shown). Secrets the board would refuse are
    BoardWouldRefuse, as a config the board's check refuses."""
    from host_tools.field import board_secrets
    from host_tools.field.boardconfig import BoardConfigError
    from host_tools.field.registry import RegistryError

    try:
        if secrets_file is not None:
            return board_secrets.read_file(secrets_file, config)
        found = _registry_secrets(config, registry, note)
    except (board_secrets.SecretsInputError, RegistryError) as e:
        raise UnusableInput(str(e)) from None
    except BoardConfigError as e:
        raise BoardWouldRefuse(str(e)) from None
    if found is not None:
        return found
    note(Note(f"{config['device_id']} is not registered: this virtual board gets throwaway "
              "dev secrets (`bourg provision add` registers it with its own keys)", caveat=True))
    return _dev_secrets(config)


def _registry_secrets(config: dict[str, Any], registry: Path | None,
                      note: NoteSink) -> dict[str, Any] | None:
    """The device's secrets from the registry; None when there is no registry at the default
    path or it does not know the device (a registry named by --registry or $BOURG_REGISTRY
    must exist and know it, as for deploy)."""
    from host_tools.field import board_secrets
    from host_tools.field.registry import registry_named

    reg = board_secrets.open_registry(registry)
    if reg is None:
        return None
    with reg:
        if reg.get(config["device_id"]) is None and not registry_named(registry):
            return None
        board_secrets.require_registered(reg, config["device_id"], "run `bourg provision add` "
                                         "first, or leave the registry out for dev secrets")
        found = board_secrets.from_registry(reg, config)
    note(Note(f"the board's secrets come from the registry {reg.path}"))
    return found


def _dev_secrets(config: dict[str, Any]) -> dict[str, Any]:
    """Secrets of the shape `bourg provision` makes (made by the registry's own code, in a
    throwaway registry), for a virtual board that is not registered. A totem gets keys for
    the sensors its config names."""
    from host_tools.field.registry import Registry

    device, site = config["device_id"], config.get("site", "dev")
    with tempfile.TemporaryDirectory(prefix="bourg-dev-") as d:
        with Registry(Path(d) / "dev.sqlite") as reg:
            reg.set_site(site, config.get("network", {}).get("ssid", "bourg"),
                         os.urandom(12).hex())
            totem = config["role"] == "parking_totem"
            bays = config.get("app", {}).get("bays", []) if totem else []
            for sensor in {b["device"] for b in bays} - {device}:
                reg.add(sensor, "parking_sensor", site)
            reg.add(device, config["role"], site)
            return dict(reg.secrets(device))


def site_wifi(registry: Path | None, site: str) -> str | None:
    """The site's WiFi password from the registry, for the access point a board that has no
    app yet will later join; None (any password) when it is not known."""
    from host_tools.field import board_secrets

    try:
        reg = board_secrets.open_registry(registry)
    except board_secrets.SecretsInputError:
        return None
    if reg is None:
        return None
    with reg:
        try:
            found = reg.site(site)
        except sqlite3.Error:  # an unreadable registry: the access point takes any password
            return None
    return found[1] if found else None


# -- the bootloader -----------------------------------------------------------------------------
def serve_bootloader(board_dir: Path, mac: bytes, stop: threading.Event,
                     note: NoteSink) -> bool:
    """Hold the chip in its ROM bootloader (as with BOOT held at reset) until esptool has
    written the flash and let go; True when the flash then holds the MicroPython the board
    can boot. Anything else is said, and the board stays in the bootloader."""
    from host_tools.emulator.esprom import SimulatedEsp32Rom

    rom = SimulatedEsp32Rom(flash_size=VFS_OFFSET + FLASH_SIZE, mac=mac)
    _load_chip_flash(board_dir, rom.flash)
    rom.start()
    print(f"bootloader: {rom.url}", flush=True)
    note(Note(f"the board waits in its serial bootloader (MAC {mac.hex(':')}); flash it "
              f"with: bourg flash IMAGE --port {rom.url}"))
    try:
        while not stop.is_set():
            if not rom.reset.wait(0.1):
                continue
            rom.reset.clear()
            flash = bytes(rom.flash)
            _save_chip_flash(board_dir, flash)
            why = _unbootable(flash)
            if why is None:
                return True
            print(f"[emulator] the board cannot boot: {why}; it stays in the bootloader",
                  flush=True)
        return False
    finally:
        rom.close()


def _load_chip_flash(board_dir: Path, flash: bytearray) -> None:
    fw = board_dir / FIRMWARE_FILE
    if fw.is_file():
        data = fw.read_bytes()[:VFS_OFFSET]
        flash[:len(data)] = data
    img = board_dir / "flash.img"
    if img.is_file() and img.stat().st_size == FLASH_SIZE:
        flash[VFS_OFFSET:VFS_OFFSET + FLASH_SIZE] = img.read_bytes()


def _save_chip_flash(board_dir: Path, flash: bytes) -> None:
    board_dir.mkdir(parents=True, exist_ok=True)
    board_dir.chmod(0o700)  # the flash will hold the board's secrets
    (board_dir / FIRMWARE_FILE).write_bytes(flash[:VFS_OFFSET])
    (board_dir / "flash.img").write_bytes(flash[VFS_OFFSET:VFS_OFFSET + FLASH_SIZE])


def _unbootable(flash: bytes) -> str | None:
    """Why this flash cannot run on a virtual board, or None. The VM is the pinned
    MicroPython, so only an image that says it is that one boots."""
    from host_tools.build import pinned_image

    try:
        info = pinned_image.check(flash[BOOT_OFFSET:VFS_OFFSET])
    except pinned_image.ImageError as e:
        return f"at {BOOT_OFFSET:#x}: {e}"
    if info["micropython"] is None:
        return (f"no MicroPython banner in the image at {BOOT_OFFSET:#x}; a virtual board "
                f"runs only {pinned_image.NAME}")
    return None


# -- running ------------------------------------------------------------------------------------
def run(config: dict[str, Any], stop: threading.Event, *, note: NoteSink,
        start_with: StartWith | FromBootloader = "app", workdir: Path | None = None,
        secrets_file: Path | None = None, registry: Path | None = None,
        broker: str | None = None, ssid: str | None = None, peripherals: bool = True,
        echo: bool = True) -> bool:
    """Run one virtual board of a checked `config` (load_config) until `stop` is set: the
    whole of `bourg emulate`. Its flash lives in `workdir` (default build/emulator/<id>),
    so the same workdir is the same chip on the next run. With the app, the board gets
    secrets_for's secrets; otherwise its access point takes the site's WiFi password from
    the registry, which a board given its app later will join. `broker` (HOST[:PORT])
    stands for the config's MQTT host, `ssid` for its network's name. BadInput comes
    before anything starts; the board's console goes to stdout (unless not `echo`). False
    when `stop` came while the inputs were still being read, before anything started."""
    dns = broker_dns(broker, config, note) if broker else {}
    secrets = secrets_for(config, secrets_file, registry, note) if start_with == "app" else None
    wifi = (secrets.get("wifi_password") if secrets is not None
            else site_wifi(registry, config.get("site", "")))
    if stop.is_set():
        return False
    workdir = workdir or firmware.REPO / "build" / "emulator" / config["device_id"]
    board_dir = workdir / config["device_id"]
    mac = efuse_mac(board_dir)
    if start_with == "bootloader" and not serve_bootloader(board_dir, mac, stop, note):
        return True
    ap = ssid or config.get("network", {}).get("ssid", "bourg")
    world = World(workdir, access_points={ap: wifi}, dns=dns)
    try:
        world.start()
        run_board(world, config, mac, stop, peripherals=peripherals, echo=echo, secrets=secrets,
                  start_with="keep" if start_with == "bootloader" else start_with)
    finally:
        world.close()
    return True


def run_board(world: World, config: dict[str, Any], mac: bytes, stop: threading.Event, *,
              start_with: StartWith = "app", secrets: dict[str, Any] | None = None,
              peripherals: bool = True, echo: bool = True) -> None:
    """Add the board, put on its flash what `start_with` says (the app with `secrets`, an
    empty filesystem, or what is there already), attach its role's peripherals, and echo its
    console (unless not `echo`) until ``stop``."""
    board = world.add_board(config, mac=mac)
    devs = by_role.attach(board, config) if peripherals else by_role.RoleDevices()
    if start_with != "keep":
        board.install({} if start_with == "blank" else firmware.stage(config, secrets))
    print(f"pty: {board.pty_path}", flush=True)
    stdin = _Lines() if devs.actions else None
    if stdin is not None and stdin.ok and echo:
        cmds = ", ".join(f"{c} {a}".strip() for c, a in devs.usage.items())
        print(f"[world] type a command and Enter to act on the board: {cmds}", flush=True)
    board.start()
    show = _Echo(board, devs)
    while not stop.wait(0.1):
        for line in stdin.lines() if stdin is not None else ():
            reply = devs.run(line)
            if echo:
                show.say(reply)
        if echo:
            show()


class _Echo:
    """Copies a board's new console output to stdout, and prints what its peripherals show
    when that changes, each on a line of its own: a board's line still being written is
    broken there rather than have a '[world]' line glued to its end."""

    def __init__(self, board: Any, devs: by_role.RoleDevices) -> None:
        self.board, self.devs = board, devs
        self.mark = 0
        self.shown: dict[str, str] = {}
        self.mid_line = False  # the board's last line has no end yet
        self.broke_line = False  # say() ended it

    def __call__(self) -> None:
        data = self.board.console_since(self.mark)
        if data:
            self.mark += len(data)
            if self.broke_line and data.startswith(b"\n"):
                data = data[1:]  # the end of the line say() broke: already ended
            self.broke_line = False
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
            self.mid_line = bool(data) and not data.endswith(b"\n")
        for label, show in self.devs.shows.items():
            now = show()
            if self.shown.get(label) != now:
                self.shown[label] = now
                self.say(f"{label}: {now}")

    def say(self, text: str) -> None:
        """A '[world]' line, on a line of its own."""
        if self.mid_line:
            print(flush=True)
            self.mid_line, self.broke_line = False, True
        print(f"[world] {text}", flush=True)


class _Lines:
    """Complete lines typed on stdin, read straight from the file descriptor: several lines
    that arrive together are all taken at once (a buffered readline would keep the rest
    out of the selector's sight until more input came)."""

    def __init__(self) -> None:
        self._sel = selectors.DefaultSelector()
        self._buf = b""
        self.ok = True
        try:
            self._fd = sys.stdin.fileno()
            self._sel.register(self._fd, selectors.EVENT_READ)
        except (ValueError, OSError, AttributeError):  # no usable stdin (e.g. a service)
            self.ok = False

    def lines(self) -> list[str]:
        if not self.ok or not self._sel.select(0):
            return []
        data = os.read(self._fd, 65536)
        if not data:  # end of input: stop listening, keep running
            self._sel.unregister(self._fd)
            self.ok = False
            data = b"\n"
        self._buf += data
        *done, self._buf = self._buf.split(b"\n")
        return [s for s in (d.decode("utf-8", "replace").strip() for d in done) if s]
