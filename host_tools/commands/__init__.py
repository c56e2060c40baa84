"""One thin module per `bourg` command (as mpflash has): its arguments, its messages and its
exit codes. The work is done by the packages below; a command module holds no logic a test
or another tool would want to call.

Only the command asked for has its module imported (`bourg provision list` waits for neither
the emulator nor the console), and one whose optional dependency is missing answers "run
make setup" instead of breaking every command."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Collection

# The exit codes every command uses: scripts and CI tell a usage error (fix the command line)
# from a board or broker that did not answer (check the cable, the address) without reading
# the message (docs/field-tools.md, exit codes).
EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_BOARD = 0, 1, 2, 3
# as a shell reports a death by SIGINT (Ctrl-C) and by SIGPIPE (`bourg ... | head`)
EXIT_INTERRUPTED, EXIT_PIPE_CLOSED = 130, 141

# name and help of each command; host_tools.commands.<name> has its add_arguments and main
COMMANDS: list[tuple[str, str]] = [
    ("config", "validate and show board configs"),
    ("emulate", "run one virtual board; prints its pty first"),
    ("provision", "register boards, keep their keys, write broker accounts"),
    ("flash", "write a MicroPython firmware image with esptool"),
    ("deploy", "compile the app and copy what changed to a board"),
    ("update", "roll an app update out to a site's boards over the air, in waves"),
    ("hil", "run the HIL tests on a board (--port) or on virtual boards"),
    ("monitor", "live table of a site's boards and alarms from MQTT"),
    ("console", "the town console: store what the fleet says and serve it over HTTP"),
    ("lighting", "simulate and score a street's night"),
    ("locker", "issue locker codes and send them by SMS"),
    ("parking", "replay, score and simulate parking-sensor traces"),
    ("demo", "a street of virtual boards on an embedded broker, with live status"),
    ("bench", "print benchmark figures as JSON lines"),
    ("soak", "run a small town for hours of virtual time and check what a long run shows"),
    ("doctor", "check this machine's tools and registry, and a board's firmware"),
    ("completion", "print a shell completion script (bash or zsh)"),
]


def command_in(argv: list[str]) -> str | None:
    """The command an argument list names (its first word that is not an option), if it is
    one of COMMANDS."""
    word = next((a for a in argv if not a.startswith("-")), None)
    return word if word in dict(COMMANDS) else None


def build_parser(load: Collection[str] | None = None
                 ) -> tuple[argparse.ArgumentParser, dict[str, Callable[..., int]]]:
    """The parser of every command, and each command's runner. Only the commands in `load`
    (None: all) have their module imported and their arguments: `bourg provision list`
    needs neither the emulator nor the console, and a technician waits for each import."""
    p = argparse.ArgumentParser(prog="bourg", description="one command for the field "
                                "technician, CI and the demo")
    from host_tools import __version__

    p.add_argument("--version", action="version", version=f"bourg {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    runners: dict[str, Callable[..., int]] = {}
    for name, help_ in COMMANDS:
        sp = sub.add_parser(name, help=help_, description=help_)
        if load is not None and name not in load:
            continue
        try:
            mod = importlib.import_module("host_tools.commands." + name)
        except ImportError as e:
            if not _missing_dependency(e):
                raise  # a bug in bourg's own code: the last guard reports it as one
            err = str(e)
            runners[name] = lambda args, err=err, name=name: _unavailable(name, err)
            continue
        mod.add_arguments(sp)
        runners[name] = mod.main
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
