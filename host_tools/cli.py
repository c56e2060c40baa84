"""`bourg`: one command for the field technician, CI and the demo.

The commands are listed in host_tools.commands; this module runs the one asked for, behind
the last guard between a bug and a technician (no traceback unless BOURG_DEBUG is set).
"""

from __future__ import annotations

import os
import sys

from host_tools.build.firmware import SetupMissing
from host_tools.commands import (
    EXIT_FAIL,
    EXIT_INTERRUPTED,
    EXIT_PIPE_CLOSED,
    EXIT_USAGE,
    build_parser,
    command_in,
)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    for a in argv:
        try:
            a.encode("utf-8")
        except UnicodeEncodeError:  # bytes the shell passed that are not UTF-8 text
            shown = a.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            print(f"bourg: argument {shown!r} is not UTF-8 text", file=sys.stderr)
            return EXIT_USAGE
    command = command_in(argv)
    parser, runners = build_parser([command] if command else [])
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(runners[args.command](args) or 0)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader went away (`bourg ... | head`): nothing left to say to it
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_PIPE_CLOSED
    except SetupMissing as e:
        print(f"bourg {args.command}: {e}", file=sys.stderr)
        return EXIT_FAIL
    except Exception as e:  # noqa: BLE001 - the last guard between a bug and a technician
        if os.environ.get("BOURG_DEBUG"):
            raise
        print(f"bourg {args.command}: internal error: {type(e).__name__}: {e}\n"
              "  This is a bug in bourg, not something you did. Run again with BOURG_DEBUG=1 "
              "for the traceback, and report it.", file=sys.stderr)
        return EXIT_FAIL


if __name__ == "__main__":
    sys.exit(main())
