"""`bourg emulate`: run one virtual board and print its pty (the work:
host_tools.testing.emulate)."""

from __future__ import annotations

import argparse
import faulthandler
import signal
import sys
import threading
from pathlib import Path

from host_tools.commands import EXIT_FAIL, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from host_tools.commands._args import add_registry_argument
from host_tools.testing.emulate import (
    BadInput,
    BoardWouldRefuse,
    FromBootloader,
    Note,
    StartWith,
    load_config,
    run,
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
    p.add_argument("--plain-mqtt", action="store_true",
                   help="a lab: the board talks plain MQTT to --broker (its config's "
                   "network.mqtt.tls set to false), not TLS with the site's CA")
    p.add_argument("--ssid", default=None, help="access point to offer (default: the config's)")
    p.add_argument("--quiet", action="store_true", help="do not echo the console to stdout")
    p.add_argument("--bare", action="store_true",
                   help="attach no peripherals (default: those the config's role implies, "
                        "whose changes print as '[world] ...' lines)")


def main(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except BadInput as e:
        return _refuse(e)
    if args.plain_mqtt and isinstance(config.get("network", {}).get("mqtt"), dict):
        config["network"]["mqtt"]["tls"] = False
        _say(Note("plain MQTT (--plain-mqtt): the board's traffic and passwords can be read "
                  "on its network; for a lab only", caveat=True))
    clash = _options_clash(args)
    if clash:
        print(f"bourg emulate: {clash}", file=sys.stderr)
        return EXIT_USAGE
    # Ctrl-C from here on stops the board and its world cleanly, even during the start
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    # `kill -USR1` prints where every thread is: for a session that will not stop
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    try:
        started = run(config, stop, note=_say, start_with=_start_with(args),
                      workdir=args.workdir, secrets_file=args.secrets, registry=args.registry,
                      broker=args.broker, ssid=args.ssid, peripherals=not args.bare,
                      echo=not args.quiet)
    except BadInput as e:
        return _refuse(e)
    return EXIT_OK if started else EXIT_INTERRUPTED  # Ctrl-C before the board started


def _refuse(e: BadInput) -> int:
    """Exit codes as `bourg config show`: 1 for a config or secrets the board's own check
    refuses, 2 for what cannot be read or used."""
    print(f"bourg emulate: {e}", file=sys.stderr)
    return EXIT_FAIL if isinstance(e, BoardWouldRefuse) else EXIT_USAGE


def _say(note: Note) -> None:
    print(f"bourg emulate: {'note: ' if note.caveat else ''}{note.text}", file=sys.stderr,
          flush=True)


def _options_clash(args: argparse.Namespace) -> str | None:
    """Why the options that say what the board starts with cannot go together, or None:
    at most one of --blank, --keep-flash and --bootloader, and --secrets only with the app."""
    modes = [o for o in ("blank", "bootloader", "keep_flash") if getattr(args, o)]
    if len(modes) > 1:
        return "choose one of " + ", ".join("--" + m.replace("_", "-") for m in modes)
    if args.secrets and modes:
        return (f"--secrets installs the app's secrets; --{modes[0].replace('_', '-')} "
                "installs nothing")
    return None


def _start_with(args: argparse.Namespace) -> StartWith | FromBootloader:
    """What the board starts with: its app unless --blank, --keep-flash or --bootloader
    (whose board boots what esptool wrote)."""
    if args.blank:
        return "blank"
    return "bootloader" if args.bootloader else "keep" if args.keep_flash else "app"
