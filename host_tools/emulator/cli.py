"""`bourg emulate BOARD_CONFIG.json`: one virtual board on this machine, its serial console on
a pty that mpremote can open. The first line printed is `pty: /dev/pts/N`."""

from __future__ import annotations

import argparse
import json
import selectors
import signal
import sys
import threading
from pathlib import Path

from .. import firmware
from . import role_devices
from .world import World


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", type=Path, help="board config JSON")
    p.add_argument("--workdir", type=Path, default=None,
                   help="where the board's flash image lives (default build/emulator/<id>)")
    p.add_argument("--blank", action="store_true",
                   help="a freshly flashed MicroPython board: empty filesystem, no app")
    p.add_argument("--keep-flash", action="store_true",
                   help="boot the existing flash image instead of installing the app")
    p.add_argument("--secrets", type=Path, help="secrets JSON to install as /secrets.json")
    p.add_argument("--broker", default=None, help="host:port the board's MQTT host resolves to")
    p.add_argument("--ssid", default=None, help="access point to offer (default: the config's)")
    p.add_argument("--quiet", action="store_true", help="do not echo the console to stdout")
    p.add_argument("--bare", action="store_true",
                   help="attach no peripherals (default: those the config's role implies, "
                        "whose changes print as '[world] ...' lines)")


def emulate_main(args: argparse.Namespace) -> int:
    config = json.loads(args.config.read_text())
    try:
        from ..boardconfig import load_and_validate

        config = load_and_validate(args.config)
    except ImportError:
        pass
    workdir = args.workdir or firmware.REPO / "build" / "emulator" / config["device_id"]
    net = config.get("network", {})
    ssid = args.ssid or net.get("ssid", "bourg")
    secrets = json.loads(args.secrets.read_text()) if args.secrets else None
    aps = {ssid: (secrets or {}).get("wifi_password")}
    dns = {}
    mqtt = net.get("mqtt", {})
    if args.broker and mqtt.get("host"):
        dns[mqtt["host"]] = args.broker.split(":")[0]
    # Ctrl-C from here on stops the board and its world cleanly, even during the start: an
    # interrupt before the main loop once left the world's threads running and the command hung
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    world = World(workdir, access_points=aps, dns=dns)
    try:
        world.start()
        _run(args, config, secrets, world, stop)
    finally:
        world.close()
    return 0


def _run(args: argparse.Namespace, config: dict, secrets: dict | None, world: World,
         stop: threading.Event) -> None:
    """Add the board, install its app, attach its peripherals and echo its console until
    ``stop``."""
    board = world.add_board(config)
    devs = role_devices.RoleDevices() if args.bare else role_devices.attach(board, config)
    shown: dict[str, str] = {}
    if not args.keep_flash:
        board.install({} if args.blank else firmware.stage(config, secrets))
    print(f"pty: {board.pty_path}", flush=True)  # always the first line
    sel = selectors.DefaultSelector()
    if devs.actions:
        try:
            sel.register(sys.stdin, selectors.EVENT_READ)
            if not args.quiet:
                cmds = ", ".join(f"{c} {a}".strip() for c, a in devs.usage.items())
                print(f"[world] type a command and Enter to act on the board: {cmds}",
                      flush=True)
        except (ValueError, OSError):  # no usable stdin (e.g. /dev/null under a service)
            pass
    board.start()
    mark = 0
    while not stop.wait(0.1):
        if sel.get_map() and sel.select(0):
            line = sys.stdin.readline()
            if not line:  # end of input: stop listening, keep running
                sel.unregister(sys.stdin)
            elif line.strip():
                reply = devs.run(line)
                if not args.quiet:
                    print(f"[world] {reply}", flush=True)
        if not args.quiet:
            data = board.console_since(mark)
            mark += len(data)
            if data:
                sys.stdout.buffer.write(data)
                sys.stdout.flush()
            for label, show in devs.shows.items():
                now = show()
                if shown.get(label) != now:
                    shown[label] = now
                    print(f"[world] {label}: {now}", flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bourg emulate", description=__doc__)
    add_arguments(p)
    return emulate_main(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
