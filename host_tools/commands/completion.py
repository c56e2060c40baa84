"""`bourg completion`: print a shell completion script (the script: commands._shell_completion)."""

from __future__ import annotations

import argparse

from host_tools.commands._shell_completion import bash_script


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("shell", choices=["bash", "zsh"], help="the shell to complete in")


def main(args: argparse.Namespace) -> int:
    from host_tools.commands import EXIT_OK, build_parser

    parser, _ = build_parser()
    script = bash_script(parser)
    if args.shell == "zsh":
        script = "autoload -U +X bashcompinit && bashcompinit\n" + script
    print(script, end="")
    return EXIT_OK
