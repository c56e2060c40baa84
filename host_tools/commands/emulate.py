"""`bourg emulate`: run one virtual board and print its pty (the work:
host_tools.testing.emulate)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from host_tools.build import firmware
from host_tools.commands import EXIT_OK, EXIT_USAGE
from host_tools.commands._args import add_registry_argument
from host_tools.emulator.board import efuse_mac
from host_tools.emulator.world import World
from host_tools.testing.emulate import (
    BadInput,
    Flash,
    broker_dns,
    load_config,
    run_board,
    secrets_for,
    serve_bootloader,
    site_wifi,
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", type=Path, help="board config JSON")
    p.add_argument("--workdir", type=Path, default=None,
                   help="where the board's flash image lives (default build/emulator/<id>)")
    p.add_argument("--blank", action="store_true",
                   help="a freshly flashed MicroPython board: empty filesystem, no app")
    p.add_argument("--bootloader", action="store_true",
                   help="a chip held in its serial bootloader: prints the socket:// port for "
                        "`bourg flash`, then boots what was flashed")
    p.add_argument("--keep-flash", action="store_true",
                   help="boot the existing flash image instead of installing the app")
    p.add_argument("--secrets", type=Path, help="secrets JSON to install as /secrets.json "
                   "(default: the board's from the registry, else throwaway dev secrets)")
    add_registry_argument(p)
    p.add_argument("--broker", default=None,
                   help="HOST[:PORT] of the broker the board's MQTT host stands for")
    p.add_argument("--ssid", default=None, help="access point to offer (default: the config's)")
    p.add_argument("--quiet", action="store_true", help="do not echo the console to stdout")
    p.add_argument("--bare", action="store_true",
                   help="attach no peripherals (default: those the config's role implies, "
                        "whose changes print as '[world] ...' lines)")


def main(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
        flash = _flash(args)
        dns = broker_dns(args.broker, config) if args.broker else {}
        if flash == "app":
            secrets = secrets_for(config, args.secrets, args.registry)
            wifi = secrets.get("wifi_password")
        else:
            secrets, wifi = None, site_wifi(args.registry, config.get("site", ""))
    except BadInput as e:
        print(f"bourg emulate: {e}", file=sys.stderr)
        return e.code
    workdir = args.workdir or firmware.REPO / "build" / "emulator" / config["device_id"]
    net = config.get("network", {})
    aps = {args.ssid or net.get("ssid", "bourg"): wifi}
    # Ctrl-C from here on stops the board and its world cleanly, even during the start
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    mac = efuse_mac(workdir / config["device_id"])
    if args.bootloader and not serve_bootloader(workdir / config["device_id"], mac, stop):
        return EXIT_OK
    world = World(workdir, access_points=aps, dns=dns)
    try:
        world.start()
        run_board(world, config, mac, stop, flash=flash, secrets=secrets,
                  peripherals=not args.bare, echo=not args.quiet)
    finally:
        world.close()
    return EXIT_OK


def _flash(args: argparse.Namespace) -> Flash:
    """What the board's flash holds when it starts, from --blank, --keep-flash and
    --bootloader (whose board boots what esptool wrote); at most one of them."""
    modes = [o for o in ("blank", "bootloader", "keep_flash") if getattr(args, o)]
    if len(modes) > 1:
        raise BadInput("choose one of " + ", ".join("--" + m.replace("_", "-") for m in modes),
                       EXIT_USAGE)
    if args.secrets and modes:
        raise BadInput(f"--secrets installs the app's secrets; --{modes[0].replace('_', '-')} "
                       "installs nothing", EXIT_USAGE)
    return "blank" if args.blank else "keep" if modes else "app"
