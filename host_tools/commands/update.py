"""`bourg update`: roll this checkout's app out to a site's boards of one role over the air, in
waves (one canary, then 2, 4, ...), each board's manifest signed with its own update key from
the registry. Stops after a wave where a board did not confirm the new version.

    bourg update --site demo-town --role lighting --version 0.2.0 \\
        --broker mqtts://broker.town --ca ca.crt --cert ops.crt --key ops.key
    bourg update --site demo-town --role lighting --version 0.2.0 --dry-run
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from host_tools.commands import EXIT_BOARD, EXIT_FAIL, EXIT_OK, EXIT_USAGE
from host_tools.commands._args import (
    BrokerArgsError,
    add_broker_arguments,
    add_registry_argument,
    broker_client,
    positive_number,
)
from host_tools.field import ota
from host_tools.field.boardconfig import APP_SCHEMAS
from host_tools.field.registry import ROLES_WITHOUT_BROKER, Registry, RegistryError, registry_path

# every role with a broker account: those are the boards with WiFi, which fetch updates
ROLES = tuple(r for r in APP_SCHEMAS if r not in ROLES_WITHOUT_BROKER)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--site", required=True, help="the site whose boards to update")
    p.add_argument("--role", required=True, choices=ROLES,
                   help="the boards' role (a parking sensor takes no update over the air)")
    p.add_argument("--version", required=True, help="the version to stamp on this "
                   "checkout's app, newer than what the boards run (e.g. 0.2.0)")
    p.add_argument("--device", action="append", default=None,
                   help="only this board (repeatable); default: every board of the role")
    p.add_argument("--canary", type=int, default=1, help="boards in the first wave")
    p.add_argument("--health-minutes", type=positive_number, default=5.0,
                   help="how long a board gives its new app to reach the broker before it "
                   "rolls back (0.5 to 60)")
    p.add_argument("--wave-timeout", type=positive_number, default=900.0,
                   help="seconds a wave may take before its late boards count as failed")
    p.add_argument("--dry-run", action="store_true",
                   help="build and check the release, print the waves, send nothing")
    p.add_argument("--json", action="store_true", help="print each board's outcome as JSON")
    add_broker_arguments(p, required=False)  # --dry-run needs none
    add_registry_argument(p)


def _fail(msg: str, code: int) -> int:
    print(f"bourg update: {msg}", file=sys.stderr)
    return code


def _boards(args: argparse.Namespace) -> dict[str, ota.BoardUpdate]:
    with Registry(registry_path(args.registry), create=False) as reg:
        devs = [d for d in reg.list(args.site) if d.role == args.role]
        if args.device:
            known = {d.device_id for d in devs}
            unknown = [d for d in args.device if d not in known]
            if unknown:
                raise LookupError(f"not {args.role} boards of site {args.site}: "
                                  f"{', '.join(unknown)}")
            devs = [d for d in devs if d.device_id in args.device]
        return {d.device_id: ota.BoardUpdate(d.device_id,
                                             reg.update_key(args.site, d.device_id))
                for d in devs}


def main(args: argparse.Namespace) -> int:
    if args.role in ROLES_WITHOUT_BROKER:  # pragma: no cover - argparse's choices refuse it
        return _fail(f"a {args.role} takes no update over the air", EXIT_USAGE)
    if args.broker is None and not args.dry_run:
        return _fail("--broker is needed, unless --dry-run", EXIT_USAGE)
    health_s = round(args.health_minutes * 60)
    if not 30 <= health_s <= 3600 or args.canary < 1 or args.wave_timeout <= 0:
        return _fail("--health-minutes is 0.5 to 60, --canary at least 1, --wave-timeout "
                     "positive", EXIT_USAGE)
    try:
        release = ota.build_release(args.role, args.version)
    except ota.UpdateRefused as e:
        return _fail(f"--version {args.version}: {e}", EXIT_USAGE)
    try:
        boards = _boards(args)
    except RegistryError as e:
        return _fail(f"registry {registry_path(args.registry)}: {e}", e.exit_code)
    except LookupError as e:  # a --device the registry does not have
        return _fail(str(e), EXIT_USAGE)
    if not boards:
        return _fail(f"no {args.role} board of site {args.site} in the registry", EXIT_USAGE)
    size = sum(len(v) for v in release.files.values())
    plan = list(ota.waves(sorted(boards), args.canary))
    print(f"release {args.role} {args.version}: {len(release.files)} files, {size} bytes; "
          f"{len(boards)} boards in {len(plan)} waves: "
          + " | ".join(", ".join(w) for w in plan), file=sys.stderr)
    if args.dry_run:
        return EXIT_OK

    def factory(on_message: object, topics: tuple[str, ...]) -> object:
        return broker_client(args, f"bourg-update-{time.time_ns()}", topics, on_message)

    def show(b: ota.BoardUpdate) -> None:
        print(f"{b.device_id}: {b.state}{' - ' + b.detail if b.detail else ''}",
              file=sys.stderr, flush=True)

    rollout = ota.Rollout(factory, args.site, release, boards,  # type: ignore[arg-type]
                          health_s=health_s, on_change=show)
    try:
        rollout.start()
    except BrokerArgsError as e:
        return _fail(str(e), EXIT_USAGE)
    except ConnectionError as e:
        return _fail(f"{args.broker}: {e}", EXIT_BOARD)
    try:
        ok = rollout.run(canary=args.canary, wave_timeout_s=args.wave_timeout)
    finally:
        rollout.close()
    rows = [b.row() for b in boards.values()]
    if args.json:
        print(json.dumps(rows))
    done = sum(1 for r in rows if r["state"] == "ok")
    print(f"{done}/{len(rows)} boards run {args.version}", file=sys.stderr)
    return EXIT_OK if ok else EXIT_FAIL
