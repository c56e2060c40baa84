"""Arguments several commands share, so that each means the same on every command line."""

from __future__ import annotations

import argparse
from pathlib import Path

from host_tools.field.registry import DEFAULT_PATH, ENV_VAR

_REGISTRY_HELP = f"device registry file (default: ${ENV_VAR}, else {DEFAULT_PATH})"


def add_registry_argument(*parsers: argparse.ArgumentParser) -> None:
    """--registry on a command and on each of its actions. The actions' copies default to
    SUPPRESS so that one given before the action is not overwritten by the action's
    default (argparse copies subparser defaults over the parent's values)."""
    where = "; accepted before or after the action" if len(parsers) > 1 else ""
    for i, p in enumerate(parsers):
        default: str | None = None if i == 0 else argparse.SUPPRESS
        p.add_argument("--registry", type=Path, default=default, help=_REGISTRY_HELP + where)
