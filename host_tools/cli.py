"""`bourg`: one command for the field technician, CI and the demo.

Each subcommand lives in its own module and is imported only when used, so a broken or missing
optional part gives a clear message instead of breaking every command.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable

# name, help, module, function adding arguments, function running it
COMMANDS: list[tuple[str, str, str, str, str]] = [
    ("config", "validate and show board configs", "host_tools.boardconfig",
     "add_arguments", "config_main"),
    ("emulate", "run one virtual board; prints its pty first", "host_tools.emulate",
     "add_arguments", "emulate_main"),
    ("provision", "register boards, keep their keys, write broker accounts",
     "host_tools.provision", "add_arguments", "provision_main"),
    ("flash", "write a MicroPython firmware image with esptool", "host_tools.flash",
     "add_arguments", "flash_main"),
    ("deploy", "compile the app and copy what changed to a board", "host_tools.deploy",
     "add_arguments", "deploy_main"),
    ("hil", "run the HIL tests on a board (--port) or on virtual boards",
     "host_tools.hil", "add_arguments", "hil_main"),
    ("monitor", "live table of a site's boards and alarms from MQTT", "host_tools.monitor",
     "add_arguments", "monitor_main"),
    ("lighting", "simulate and score a street's night", "host_tools.lighting.cli",
     "add_arguments", "main"),
    ("locker", "issue locker codes and send them by SMS", "host_tools.locker.cli",
     "add_arguments", "main"),
    ("parking", "replay, score and simulate parking-sensor traces", "host_tools.parking.cli",
     "add_arguments", "main"),
    ("demo", "a street of virtual boards on an embedded broker, with live status",
     "host_tools.demo", "add_arguments", "demo_main"),
    ("bench", "print benchmark figures as JSON lines", "host_tools.bench",
     "add_arguments", "bench_main"),
    ("doctor", "check this machine's tools and registry, and a board's firmware",
     "host_tools.doctor", "add_arguments", "doctor_main"),
    ("completion", "print a shell completion script (bash or zsh)", "host_tools.completion",
     "add_arguments", "completion_main"),
]

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Callable[..., int]]]:
    p = argparse.ArgumentParser(prog="bourg", description=__doc__.splitlines()[0])
    from . import __version__

    p.add_argument("--version", action="version", version=f"bourg {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    runners: dict[str, Callable[..., int]] = {}
    for name, help_, module, add, run in COMMANDS:
        sp = sub.add_parser(name, help=help_, description=help_)
        try:
            mod = importlib.import_module(module)
        except ImportError as e:
            if not _missing_dependency(e):
                raise  # a bug in bourg's own code: the last guard reports it as one
            err = str(e)
            runners[name] = lambda args, err=err, name=name: _unavailable(name, err)
            continue
        getattr(mod, add)(sp)
        runners[name] = getattr(mod, run)
    return p, runners


def _missing_dependency(e: ImportError) -> bool:
    """True for an optional package that is not installed (`make setup` brings it); False
    for an import that fails inside bourg itself, which setup would not fix."""
    missing = e.name or ""
    return isinstance(e, ModuleNotFoundError) and not (
        missing == "host_tools" or missing.startswith("host_tools."))


def _unavailable(name: str, err: str) -> int:
    print(f"bourg {name}: not available in this installation ({err}).\n"
          "  Run `make setup` to install every dependency.", file=sys.stderr)
    return EXIT_FAIL


def main(argv: list[str] | None = None) -> int:
    parser, runners = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(runners[args.command](args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader went away (`bourg ... | head`): nothing left to say to it
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as e:  # noqa: BLE001 - the last guard between a bug and a technician
        if os.environ.get("BOURG_DEBUG"):
            raise
        print(f"bourg {args.command}: internal error: {type(e).__name__}: {e}\n"
              "  This is a bug in bourg, not something you did. Run again with BOURG_DEBUG=1 "
              "for the traceback, and report it.", file=sys.stderr)
        return EXIT_FAIL


if __name__ == "__main__":
    sys.exit(main())
