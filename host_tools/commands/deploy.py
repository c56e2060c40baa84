"""`bourg deploy`: compile the app and copy what changed to a board (the work:
host_tools.field.deploy)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from host_tools.commands import EXIT_BOARD, EXIT_FAIL, EXIT_OK, EXIT_USAGE
from host_tools.field.boardconfig import (
    BoardConfigError,
    BoardConfigUnreadable,
    load_and_validate,
    validate_secrets,
)
from host_tools.field.boardid import BoardIdentity, IdentityError
from host_tools.field.deploy import DeployError, DeployInterrupted, Plan, deploy
from host_tools.field.registry import Registry
from host_tools.field.serialboard import TransportError


def add_arguments(p: argparse.ArgumentParser) -> None:
    from host_tools.field.registry import add_registry_argument

    p.add_argument("config", type=Path, help="board config JSON")
    p.add_argument("--port", help="serial port (default: the only USB-serial board found)")
    p.add_argument("--secrets", type=Path, help="secrets JSON for this board (from provision); "
                   "default: this board's secrets from the registry")
    add_registry_argument(p)
    p.add_argument("--force", action="store_true", help="write even though the board on the "
                   "port is not this config's device (its unique_id or device_id differ)")
    p.add_argument("--source", action="store_true", help="copy .py sources, not .mpy")
    p.add_argument("--dry-run", action="store_true", help="say what would be copied")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.add_argument("--no-reset", action="store_true", help="do not reset afterwards (the "
                   "board's watchdog, set to 10 min for the copy, resets it after that)")


class _Usage(ValueError):
    """Bad input: exit 2 with this message."""


def _secrets_refused(e: BoardConfigError) -> int:
    """A --secrets file or the registry's secrets fail the board's own check."""
    print(f"bourg deploy: the board would refuse these secrets, nothing was copied:\n{e}",
          file=sys.stderr)
    return EXIT_FAIL


def _read_secrets(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise _Usage(f"cannot read secrets {path}: {e}") from None


def _open_registry(args: argparse.Namespace, device_id: str) -> Registry | None:
    """The registry every command uses, or None when there is none and none was named (the
    board then keeps its own /secrets.json)."""
    from host_tools.field.registry import Registry, RegistryError, registry_named, registry_path

    path = registry_path(args.registry)
    if not path.exists():
        if registry_named(args.registry):
            raise _Usage(f"no registry at {path}")
        if not args.secrets:
            print(f"note: no registry at {path}: the board keeps its own /secrets.json",
                  file=sys.stderr)
        return None
    try:
        reg = Registry(path, create=False)
    except RegistryError as e:
        raise _Usage(str(e)) from None
    if reg.get(device_id) is None and not args.secrets:
        reg.close()
        raise _Usage(f"{device_id} is not in the registry {path}; run `bourg provision add "
                     f"{args.config}` first (or give --secrets)")
    return reg


def main(args: argparse.Namespace) -> int:
    from host_tools.field.ports import resolve_port
    from host_tools.field.registry import RegistryError

    try:
        config = load_and_validate(args.config)
    except BoardConfigError as e:
        print(f"bourg deploy: invalid config, nothing was copied:\n{e}", file=sys.stderr)
        return EXIT_USAGE if isinstance(e, BoardConfigUnreadable) else EXIT_FAIL
    try:
        secrets = _read_secrets(args.secrets) if args.secrets else None
        if secrets is not None:
            validate_secrets(config, secrets, str(args.secrets))
    except BoardConfigError as e:
        return _secrets_refused(e)
    except _Usage as e:
        print(f"bourg deploy: {e}", file=sys.stderr)
        return EXIT_USAGE
    try:
        reg = _open_registry(args, config["device_id"])
        port = resolve_port(args.port)
    except (_Usage, LookupError) as e:
        print(f"bourg deploy: {e}", file=sys.stderr)
        return EXIT_USAGE
    try:
        if reg is not None and secrets is None:
            secrets = reg.secrets(config["device_id"])
        return _run(args, port, config, secrets, reg)
    except RegistryError as e:
        print(f"bourg deploy: {e}", file=sys.stderr)
        return e.exit_code
    finally:
        if reg is not None:
            reg.close()


class _NoSecrets(IdentityError):
    """The board would be left without secrets (exit 2; --force does not override)."""


def _run(args: argparse.Namespace, port: str, config: dict[str, Any],
         secrets: dict[str, Any] | None, reg: Registry | None) -> int:
    from host_tools.field.boardid import check
    from host_tools.field.registry import registry_path

    def progress(i: int, n: int, path: str) -> None:
        if not args.json:
            print(f"  [{i}/{n}] {path}", file=sys.stderr, flush=True)

    def check_board(ident: BoardIdentity) -> None:
        check(ident, config["device_id"], reg, port, args.force)
        if secrets is None and not ident.has_secrets:
            raise _NoSecrets(f"the board on {port} has no /secrets.json and none was found for "
                             f"{config['device_id']} (no registry at "
                             f"{registry_path(args.registry)}): its app would start in SAFE "
                             "MODE. Run from where registry/ is, or give --registry or "
                             "--secrets; nothing was copied")

    try:
        plan = deploy(port, config, secrets, compiled=not args.source, dry_run=args.dry_run,
                      reset=not args.no_reset, progress=progress, check=check_board)
    except BoardConfigError as e:
        return _secrets_refused(e)
    except _NoSecrets as e:
        print(f"bourg deploy: {e}", file=sys.stderr)
        return EXIT_USAGE
    except IdentityError as e:
        print(f"bourg deploy: {e}", file=sys.stderr)
        return EXIT_FAIL
    except DeployInterrupted as e:
        print(f"bourg deploy: interrupted; {e}", file=sys.stderr)
        return 130
    except (TransportError, OSError) as e:
        print(f"bourg deploy: the board on {port} stopped answering ({e}).\n"
              "  Nothing was switched over: the board keeps its previous app. Check the cable "
              "and power, then run the same command again.", file=sys.stderr)
        return EXIT_BOARD
    except DeployError as e:
        print(f"bourg deploy: {e}", file=sys.stderr)
        return EXIT_BOARD
    _report(args, port, config, plan)
    return EXIT_OK


def _report(args: argparse.Namespace, port: str, config: dict[str, Any], plan: Plan) -> None:
    s = plan.summary()
    if args.json:
        print(json.dumps({"port": port, "dry_run": args.dry_run, **s}))
        return
    verb = "would copy" if args.dry_run else "copied"
    print(f"{config['device_id']} on {port}: {verb} {len(s['copy'])} file(s) "
          f"({s['bytes']} bytes), removed {len(s['remove'])}, {s['unchanged']} unchanged")
    if plan.leftover:
        done = "would finish" if args.dry_run else "finished"
        print(f"  {done} an interrupted deploy: {len(plan.reuse)} complete file(s) reused, "
              f"the other {len(plan.leftover) - len(plan.reuse)} written again or removed",
              file=sys.stderr)
