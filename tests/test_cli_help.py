"""Every command, action, argument and option of `bourg` explains itself in --help."""

from __future__ import annotations

import argparse

from host_tools.commands import build_parser
from host_tools.commands._shell_completion import _subparsers


def _silent(prefix: str, p: argparse.ArgumentParser) -> list[str]:
    out = []
    for a in p._actions:
        if isinstance(a, argparse._SubParsersAction):
            out += [f"{prefix} {c.dest}" for c in a._choices_actions if not c.help]
        elif not a.help:
            out.append(f"{prefix} {'/'.join(a.option_strings) or a.dest}")
    for name, sp in _subparsers(p).items():
        out += _silent(f"{prefix} {name}", sp)
    return out


def test_every_option_has_help() -> None:
    parser, _ = build_parser()
    assert _silent("bourg", parser) == []
