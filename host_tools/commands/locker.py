"""`bourg locker ...`: issue locker codes and send them by SMS.

    bourg locker issue --bank locker-01 --compartment 3 --from 2026-11-22T09:00 --hours 48 \\
        [--kind pickup|deposit|retrieve] [--resend] [--sms +33612345678 --lang fr \\
        --sms-config sms.json]
    bourg locker admin --bank locker-01          # a 20-digit service code for now

Every `issue` is a new code (a new parcel, a new deposit); `--resend` gives the last one issued
for that compartment and kind again.

Without --sms the code is printed (for the merchant's screen); with --sms it is sent and only
the delivery is printed. sms.json: {"provider": "outbox", "dir": "..."} |
{"provider": "http", "url": "...", "body": {...}, "token_file": "..."} |
{"provider": "gsm", "port": "/dev/ttyUSB1", "baud": 115200}.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from pathlib import Path

from host_tools.commands import EXIT_FAIL, EXIT_OK, EXIT_USAGE
from host_tools.commands._args import add_registry_argument, positive_number
from host_tools.field.registry import Registry, RegistryError, registry_path
from host_tools.locker.issue import CodeBook, IssueError, parse_when
from host_tools.locker.sms import SmsError, check_phone, provider_from_file


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="locker_cmd", metavar="ACTION")
    sub.required = True
    i = sub.add_parser("issue", help="issue a code (print it, or send it by SMS)")
    i.add_argument("--bank", required=True, help="the locker bank's device id")
    i.add_argument("--compartment", type=int, required=True,
                   help="compartment number, as in the bank's config")
    i.add_argument("--from", dest="start", required=True,
                   help="ISO time the code is for (UTC unless it says otherwise), or now")
    i.add_argument("--hours", type=positive_number, default=None,
                   help="how long from --from the code must work (default 24, or what is left "
                        "of the code's window: a deposit code's ends at 00:00 UTC)")
    i.add_argument("--kind", choices=["pickup", "deposit", "retrieve"], default="pickup",
                   help="pickup (the customer), deposit (the shop fills it) or retrieve "
                   "(the shop takes back an uncollected parcel)")
    i.add_argument("--resend", action="store_true", help="the last code issued for this "
                   "compartment and kind, again (a lost SMS), instead of a new one")
    i.add_argument("--sms", help="send to this number (E.164, +33...)")
    i.add_argument("--lang", choices=["fr", "en"], default="fr", help="language of the SMS")
    i.add_argument("--place", default="", help="where the locker is, for the message")
    i.add_argument("--sms-config", help="SMS provider config (JSON)")
    a = sub.add_parser("admin", help="a one-off service code for the bank, for now")
    a.add_argument("--bank", required=True, help="the locker bank's device id")
    add_registry_argument(p, i, a)


def main(args: argparse.Namespace) -> int:
    path = registry_path(args.registry)
    try:
        with Registry(path, create=False) as reg:
            if args.locker_cmd == "admin":
                print(CodeBook(reg).admin_code(args.bank))
                return EXIT_OK
            if not args.resend:
                reg.require_writable()  # a new code is saved: refuse before making it
            return _issue(args, CodeBook(reg))
    except RegistryError as e:
        print(f"bourg locker: {e}", file=sys.stderr)
        return e.exit_code
    except sqlite3.Error as e:
        print(f"bourg locker: registry {path}: {e}", file=sys.stderr)
        return EXIT_FAIL
    except (IssueError, ValueError, OSError) as e:
        print(f"bourg locker: {e}", file=sys.stderr)
        return EXIT_USAGE
    except SmsError as e:
        print(f"bourg locker: SMS not sent: {e}", file=sys.stderr)
        return EXIT_FAIL


def _issue(args: argparse.Namespace, book: CodeBook) -> int:
    """Print the code, or send it and print the delivery; every check of the command line
    comes before a code is saved."""
    start = parse_when(args.start)
    provider = None
    if args.sms:
        check_phone(args.sms)
        if not args.sms_config:
            print("bourg locker issue: --sms needs --sms-config", file=sys.stderr)
            return EXIT_USAGE
        provider = provider_from_file(Path(args.sms_config))
    # a code whose every SMS failed is sent again rather than a new one spent: a compartment
    # has only so many codes a day
    unsent = (book.unsent(args.bank, args.compartment, args.kind, args.sms, start_s=start,
                          hours=args.hours)
              if provider is not None and not args.resend else None)
    issued = unsent or book.issue_or_resend(args.bank, args.compartment, args.kind, start,
                                            args.hours, resend=args.resend)
    info = issued.public()
    if provider is None:
        print(json.dumps({**info, "code": issued.code + "#"}))
        return EXIT_OK
    d = book.send(issued, args.sms, args.lang, provider, args.place)
    print(json.dumps({**info, "sms": {"provider": d.provider, "status": d.status,
                                      "ref": d.ref}}))
    return EXIT_OK
