"""`bourg deploy`: compile the app and copy what changed to a board (the work:
host_tools.field.deploy; which secrets the board gets: host_tools.field.board_secrets)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from host_tools.commands import EXIT_BOARD, EXIT_FAIL, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from host_tools.commands._args import add_registry_argument
from host_tools.field import board_secrets
from host_tools.field.board_secrets import DeploySecrets, NoSecrets, SecretsInputError
from host_tools.field.boardconfig import BoardConfigError, BoardConfigUnreadable, load_and_validate
from host_tools.field.boardid import BoardIdentity, IdentityError
from host_tools.field.deploy import DeployError, DeployInterrupted, Plan, deploy
from host_tools.field.registry import RegistryError
from host_tools.field.serialboard import TransportError


def add_arguments(p: argparse.ArgumentParser) -> None:
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


def _fail(message: str, code: int) -> int:
    print(f"bourg deploy: {message}", file=sys.stderr)
    return code


def _secrets_refused(e: BoardConfigError) -> int:
    """A --secrets file or the registry's secrets fail the board's own check."""
    return _fail(f"the board would refuse these secrets, nothing was copied:\n{e}", EXIT_FAIL)


def main(args: argparse.Namespace) -> int:
    from host_tools.field.ports import resolve_port

    try:
        config = load_and_validate(args.config)
    except BoardConfigError as e:
        return _fail(f"invalid config, nothing was copied:\n{e}",
                     EXIT_USAGE if isinstance(e, BoardConfigUnreadable) else EXIT_FAIL)
    try:
        chosen = board_secrets.for_deploy(config, args.config, args.secrets, args.registry)
    except BoardConfigError as e:
        return _secrets_refused(e)
    except SecretsInputError as e:
        return _fail(str(e), EXIT_USAGE)
    except RegistryError as e:
        return _fail(str(e), e.exit_code)
    with chosen:
        if chosen.registry is None and args.secrets is None:
            print(f"note: no registry at {chosen.registry_path}: the board keeps its own "
                  "/secrets.json", file=sys.stderr)
        try:
            return _run(args, resolve_port(args.port), config, chosen)
        except LookupError as e:
            return _fail(str(e), EXIT_USAGE)
        except RegistryError as e:
            return _fail(str(e), e.exit_code)


def _run(args: argparse.Namespace, port: str, config: dict[str, Any],
         chosen: DeploySecrets) -> int:
    from host_tools.field.boardid import check

    def progress(i: int, n: int, path: str) -> None:
        if not args.json:
            print(f"  [{i}/{n}] {path}", file=sys.stderr, flush=True)

    def check_board(ident: BoardIdentity) -> None:
        check(ident, config["device_id"], chosen.registry, port, args.force)
        board_secrets.require_secrets_on(ident, chosen, port, config["device_id"])

    try:
        plan = deploy(port, config, chosen.secrets, compiled=not args.source,
                      dry_run=args.dry_run, reset=not args.no_reset, progress=progress,
                      check=check_board)
    except BoardConfigError as e:
        return _secrets_refused(e)
    except NoSecrets as e:
        return _fail(str(e), EXIT_USAGE)
    except IdentityError as e:
        return _fail(str(e), EXIT_FAIL)
    except DeployInterrupted as e:
        return _fail(f"interrupted; {e}", EXIT_INTERRUPTED)
    except (TransportError, OSError) as e:
        return _fail(f"the board on {port} stopped answering ({e}).\n"
                     "  Nothing was switched over: the board keeps its previous app. Check the "
                     "cable and power, then run the same command again.", EXIT_BOARD)
    except DeployError as e:
        return _fail(str(e), EXIT_BOARD)
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
