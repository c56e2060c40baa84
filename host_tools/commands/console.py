"""`bourg console`: the town console, a service that stores what the fleet says over MQTT and
serves it over HTTP (docs/console.md).

    bourg console serve --site demo-town --broker mqtt://broker.town:1883 \\
        --user bourg-ops --password-file ops.txt --db /var/lib/bourg/console.sqlite
    bourg console serve ... --db postgresql://console@/bourg --listen 0.0.0.0:8080
    bourg console migrate --db /var/lib/bourg/console.sqlite
    bourg console add-user olga --role operator --db ...   # asks for the password twice
    bourg console add-user shop1 --role merchant --bank locker-01 --password-file pw.txt

There is no default account: the first operator is made with add-user.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from host_tools.commands import EXIT_FAIL, EXIT_OK, EXIT_USAGE
from host_tools.commands._args import BrokerArgsError, add_broker_arguments, broker_address

if TYPE_CHECKING:
    from bourg_console.codedesk import CodeDesk
    from bourg_console.ingest import Broker

DB_ENV = "BOURG_CONSOLE_DB"
DEFAULT_DB = Path("console") / "console.sqlite"


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, help_ in (("serve", "hear the site's broker and serve the console over HTTP"),
                        ("migrate", "bring the database to the latest schema, then exit"),
                        ("add-user", "make a staff account (operator, technician, merchant)")):
        a = sub.add_parser(name, help=help_, description=help_)
        a.add_argument("--db", default=os.environ.get(DB_ENV, str(DEFAULT_DB)),
                       help=f"an SQLite file, or a postgresql:// URL (default: ${DB_ENV}, "
                       f"else {DEFAULT_DB})")
        if name == "serve":
            add_broker_arguments(a)
            a.add_argument("--site", required=True, help="the site to hear (bourg/<site>/#)")
            a.add_argument("--listen", default="127.0.0.1:8080", help="HOST:PORT to serve on")
            a.add_argument("--registry", type=Path, help="the site's device registry: with "
                           "--sms, merchants issue locker codes from the console")
            a.add_argument("--sms", type=Path, help="the SMS provider's config (JSON, as "
                           "bourg locker issue --sms-config takes it)")
            a.add_argument("--max-stay", action="append", default=[], metavar="ZONE=MIN",
                           help="a parking zone's longest stay in minutes (repeat per "
                           "zone): longer is an overstay alarm")
            a.add_argument("--on-call", action="append", default=[], metavar="PHONE",
                           help="tell this number of each alarm by SMS (repeat; with "
                           "--notify-sms)")
            a.add_argument("--escalate-to", action="append", default=[], metavar="PHONE",
                           help="tell this number of an alarm nobody acknowledged (repeat)")
            a.add_argument("--escalate-after-min", type=float, default=15.0,
                           help="minutes before an unacknowledged alarm escalates (15)")
            a.add_argument("--remind-min", type=float, default=60.0,
                           help="remind the on-call numbers this often while a board "
                           "stays offline, minutes (60)")
            a.add_argument("--notify-sms", type=Path, help="the SMS provider's config for "
                           "alarms (JSON, as for --sms)")
            a.add_argument("--poll-s", type=float, default=60.0, help="ask every board for "
                           "cmd/status this often, seconds (default 60)")
            a.add_argument("--missed", type=int, default=3, help="raise the offline alarm "
                           "after this many unanswered polls in a row (default 3)")
            a.add_argument("-v", "--verbose", action="store_true", help="log what is heard")
        if name == "add-user":
            a.add_argument("name", help="the login name (a-z 0-9 _ . @ -)")
            a.add_argument("--role", required=True, choices=("operator", "technician",
                                                             "merchant"),
                           help="operator: everything; technician: fleet and commands; "
                           "merchant: its own locker bank's codes")
            a.add_argument("--bank", help="a merchant's locker bank (its device id)")
            a.add_argument("--password-file", type=Path, help="file holding the password "
                           "(else asked for twice on the terminal, or read from stdin)")


def main(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    try:
        if args.action == "migrate":
            return _migrate(args.db)
        if args.action == "add-user":
            return _add_user(args)
        return _serve(args)
    except (SQLAlchemyError, OSError) as e:
        print(f"bourg console: cannot use the database {args.db}: {_short(e)}",
              file=sys.stderr)
        return EXIT_FAIL
    except _UsageError as e:
        print(f"bourg console: {e}", file=sys.stderr)
        return EXIT_USAGE


class _UsageError(ValueError):
    pass


def _short(e: Exception) -> str:
    orig = getattr(e, "orig", None)
    return str(orig if orig is not None else e).splitlines()[0]


def _migrate(db: str) -> int:
    from bourg_console.db import current_revision, open_engine

    engine = open_engine(db)
    print(f"{db}: schema at revision {current_revision(engine)}")
    engine.dispose()
    return EXIT_OK


def _password(args: argparse.Namespace) -> str:
    import getpass

    if args.password_file is not None:
        try:
            return args.password_file.read_text().rstrip("\n")
        except OSError as e:
            raise _UsageError(f"cannot read the --password-file {args.password_file}: "
                              f"{e.strerror}") from None
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass(f"password for {args.name}: ")
    if getpass.getpass("again: ") != first:
        raise _UsageError("the two passwords differ; nothing was made")
    return first


def _add_user(args: argparse.Namespace) -> int:
    import time

    from bourg_console.accounts import AccountError, Accounts
    from bourg_console.db import open_engine

    password = _password(args)
    engine = open_engine(args.db)
    try:
        Accounts(engine).add_user(args.name, args.role, password, time.time(), bank=args.bank)
    except AccountError as e:
        raise _UsageError(f"{e}; nothing was made") from None
    finally:
        engine.dispose()
    print(f"{args.db}: account {args.name} ({args.role}) made")
    return EXIT_OK


def _broker(args: argparse.Namespace) -> Broker:
    from bourg_console.ingest import Broker

    try:
        a = broker_address(args)
    except BrokerArgsError as e:
        raise _UsageError(str(e)) from None
    files = (str(a.tls.ca), str(a.tls.cert), str(a.tls.key)) if a.tls else (None,) * 3
    return Broker(a.host, a.port, a.user, a.password, *files)


def _desk(args: argparse.Namespace) -> CodeDesk | None:
    from bourg_console.codedesk import CodeDesk
    from host_tools.locker.sms import provider_from_file

    if (args.registry is None) != (args.sms is None):
        raise _UsageError("--registry and --sms go together (locker codes need both)")
    if args.registry is None:
        return None
    if not args.registry.is_file():
        raise _UsageError(f"no registry at {args.registry}")
    try:
        provider_from_file(args.sms)
    except (OSError, ValueError) as e:
        raise _UsageError(f"--sms {args.sms}: {e}") from None
    return CodeDesk(args.registry, args.sms)


def _notify(args: argparse.Namespace) -> tuple[Any, Any] | None:
    """The SMS provider and the policy for alarms, or None without --notify-sms."""
    from bourg_console.notify import Policy
    from host_tools.locker.sms import provider_from_file

    if args.notify_sms is None:
        if args.on_call or args.escalate_to:
            raise _UsageError("--on-call and --escalate-to need --notify-sms")
        return None
    try:
        provider = provider_from_file(args.notify_sms)
        policy = Policy(tuple(args.on_call), tuple(args.escalate_to),
                        args.escalate_after_min * 60, args.remind_min * 60)
    except (OSError, ValueError) as e:
        raise _UsageError(f"alarm notifications: {e}") from None
    return provider, policy


def _listen(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise _UsageError(f"--listen wants HOST:PORT, got {text!r}")
    return host, int(port)


def _serve(args: argparse.Namespace) -> int:
    from bourg_console.service import Console, configure_logging

    broker, (host, port) = _broker(args), _listen(args.listen)
    if not args.poll_s > 0 or args.missed < 1:
        raise _UsageError("--poll-s must be over 0 and --missed at least 1")
    desk = _desk(args)
    from bourg_console.parking import parse_max_stay

    try:
        max_stay = parse_max_stay(args.max_stay)
    except ValueError as e:
        raise _UsageError(str(e)) from None
    notify = _notify(args)
    configure_logging(args.verbose)
    console = Console(args.db, broker, args.site, host, port, poll_s=args.poll_s,
                      missed=args.missed, desk=desk, max_stay_s=max_stay,
                      notify=notify).start()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(f"bourg console: hearing bourg/{args.site}/# on {args.broker}, serving "
          f"http://{host}:{port}/", file=sys.stderr, flush=True)
    while not stop.wait(0.5):
        if console.server.should_exit or (console._thread and not console._thread.is_alive()):
            console.ingest.stop()
            print(f"bourg console: could not serve on {host}:{port}", file=sys.stderr)
            return EXIT_FAIL
    console.stop()
    return EXIT_OK
