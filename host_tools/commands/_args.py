"""Arguments several commands share, so that each means the same on every command line."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from host_tools.field.registry import DEFAULT_PATH, ENV_VAR

_REGISTRY_HELP = f"device registry file (default: ${ENV_VAR}, else {DEFAULT_PATH})"


def positive_number(text: str) -> float:
    """argparse type: a finite number above 0 (nan, inf and -5 hours or seconds are typing
    mistakes, not requests)."""
    import math

    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text!r}")
    return v


def positive_int(text: str) -> int:
    """argparse type: a whole number above 0."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"expected a whole number above 0, got {text!r}")
    return v


def add_registry_argument(*parsers: argparse.ArgumentParser) -> None:
    """--registry on a command and on each of its actions. The actions' copies default to
    SUPPRESS so that one given before the action is not overwritten by the action's
    default (argparse copies subparser defaults over the parent's values)."""
    where = "; accepted before or after the action" if len(parsers) > 1 else ""
    for i, p in enumerate(parsers):
        default: str | None = None if i == 0 else argparse.SUPPRESS
        p.add_argument("--registry", type=Path, default=default, help=_REGISTRY_HELP + where)


class BrokerArgsError(ValueError):
    """--broker and its TLS files do not go together; the message says how to fix them."""


def add_broker_arguments(p: argparse.ArgumentParser, required: bool = True) -> None:
    """--broker and the account or certificate that reaches it (monitor, update)."""
    p.add_argument("--broker", required=required,
                   help="mqtt://host:port, or mqtts://host:port (TLS, port 8883 by default) "
                   "with --ca, --cert and --key")
    p.add_argument("--user", help="MQTT user (the ops account reads bourg/#)")
    p.add_argument("--password-file", type=Path, help="file holding the MQTT password")
    p.add_argument("--ca", type=Path, help="the site's CA certificate (ca.crt, from bourg "
                   "provision mosquitto --tls-host)")
    p.add_argument("--cert", type=Path, help="your certificate (ops.crt)")
    p.add_argument("--key", type=Path, help="your certificate's key (ops.key)")


@dataclass(frozen=True)
class BrokerAddress:
    """Where --broker and its account or TLS files say to connect (broker_address)."""

    host: str
    port: int
    user: str | None
    password: str | None
    tls: Any  # host_tools.field.mqtt_watch.ClientTls, or None for plain MQTT


def broker_address(args: argparse.Namespace) -> BrokerAddress:
    """--broker, --user, --password-file and --ca/--cert/--key checked together (monitor,
    update, console); BrokerArgsError for arguments that do not go together or files that
    cannot be read or used."""
    import ssl

    from host_tools.field.mosquitto import TLS_PORT
    from host_tools.field.mqtt_watch import ClientTls

    wanted = f"--broker wants mqtt://host:port or mqtts://host:port, got {args.broker!r}"
    try:
        u = urlparse(args.broker)
        port = u.port  # ValueError for a port that is not a number in 0..65535
    except ValueError:
        raise BrokerArgsError(wanted) from None
    if u.scheme not in ("mqtt", "tcp", "mqtts") or not u.hostname:
        raise BrokerArgsError(wanted)
    if not _host_ok(u.hostname):
        raise BrokerArgsError(f"--broker host {u.hostname!r}: expected a host name (ASCII "
                              "letters, digits, '-', dot-separated) or an IP address")
    tls = None
    given = [f"--{n}" for n in ("ca", "cert", "key") if getattr(args, n) is not None]
    if u.scheme != "mqtts" and given:
        raise BrokerArgsError(f"{' '.join(given)} are for TLS: use mqtts://{u.netloc}")
    if u.scheme == "mqtts":
        missing = [f"--{n}" for n in ("ca", "cert", "key") if getattr(args, n) is None]
        if missing:
            raise BrokerArgsError(f"mqtts:// needs {' '.join(missing)} too")
        tls = ClientTls(args.ca, args.cert, args.key)
        try:
            ctx = ssl.create_default_context(cafile=str(args.ca))
            ctx.load_cert_chain(str(args.cert), str(args.key))
        except (OSError, ssl.SSLError) as e:  # unreadable or unusable --ca/--cert/--key
            raise BrokerArgsError(f"cannot use the TLS files ({e})") from None
    try:
        password = args.password_file.read_text().strip() if args.password_file else None
    except OSError as e:
        raise BrokerArgsError(f"cannot read the --password-file {args.password_file}: "
                              f"{e.strerror}") from None
    except UnicodeDecodeError:
        raise BrokerArgsError(f"--password-file {args.password_file}: not a text file "
                              "(UTF-8)") from None
    return BrokerAddress(u.hostname, port or (TLS_PORT if tls else 1883), args.user,
                         password, tls)


def _host_ok(host: str) -> bool:
    """A name the resolver takes (no empty label: "a..b" made paho's thread die with a
    traceback) or an IP address."""
    import ipaddress
    import re

    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    return len(host) <= 253 and all(re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?",
                                                 label) for label in host.split("."))


def broker_client(args: argparse.Namespace, client_id: str, topics: tuple[str, ...],
                  on_message: Any) -> Any:
    """A Watcher on --broker with the account or TLS files given; BrokerArgsError as
    broker_address says."""
    import ssl

    from host_tools.field.mqtt_watch import Watcher

    a = broker_address(args)
    try:
        return Watcher(a.host, a.port, topics=topics, user=a.user, password=a.password,
                       client_id=client_id, on_message=on_message, tls=a.tls,
                       keep=100)  # its caller reads them through on_message
    except (OSError, ssl.SSLError) as e:  # TLS files that changed since the check
        raise BrokerArgsError(f"cannot use the TLS files ({e})") from None
