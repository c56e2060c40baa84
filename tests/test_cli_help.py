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


def test_a_command_imports_only_its_own_module(tmp_path) -> None:  # noqa: ANN001
    """`bourg provision list` loads neither the other commands nor the emulator and console
    they need: every command a technician types would pay for all of them."""
    import json
    import subprocess
    import sys

    from host_tools.field.registry import Registry

    Registry(tmp_path / "r.sqlite").db.close()  # a registry named but missing is an error
    code = ("import json, sys\nfrom host_tools.cli import main\n"
            f"rc = main(['provision', 'list', '--registry', {str(tmp_path / 'r.sqlite')!r}])\n"
            "assert rc == 0, rc\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith("
            "('host_tools.commands.', 'host_tools.emulator', 'bourg_console')))))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    loaded = json.loads(r.stdout.strip().splitlines()[-1])
    assert "host_tools.commands.provision" in loaded
    assert not [m for m in loaded if m.startswith(("host_tools.emulator", "bourg_console"))
                or m in ("host_tools.commands.console", "host_tools.commands.emulate")], loaded
