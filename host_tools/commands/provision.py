"""`bourg provision`: register boards, keep their keys, write the broker accounts (the work:
host_tools.field.provision and .registry)."""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from host_tools.commands import EXIT_BOARD, EXIT_FAIL, EXIT_OK, EXIT_USAGE
from host_tools.commands._args import add_registry_argument
from host_tools.field import site_ca
from host_tools.field.boardconfig import BoardConfigError, BoardConfigUnreadable, load_and_validate
from host_tools.field.mosquitto import (
    OPS_USER,
    TLS_PORT,
    TlsFiles,
    fleet_accounts,
    hand_over,
    passwd_safe,
)
from host_tools.field.provision import (
    BoardSilent,
    UsageError,
    check_site,
    checked_unique_id,
    compartments_of,
    read_secret_file,
    write_private,
)
from host_tools.field.registry import (
    KEY_KINDS,
    Registry,
    RegistryError,
    registry_path,
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="prov_cmd", metavar="ACTION", required=True)
    s = sub.add_parser("site", help="set a site's WiFi network; make its CA (TLS) if it has "
                       "none")
    s.add_argument("site", help="the site's name, as in the board configs' `site`")
    s.add_argument("--ssid", required=True, help="the WiFi network the site's boards join")
    s.add_argument("--wifi-password-file", type=Path, required=True,
                   help="file holding the WiFi password (kept out of shell history)")
    a = sub.add_parser("add", help="register a board from its config and make its keys")
    a.add_argument("config", type=Path, help="the board's config JSON (board_configs/)")
    a.add_argument("--port", help="read the board's unique_id over this serial port")
    a.add_argument("--unique-id", help="the board's unique_id in hex, if known")
    a.add_argument("--location", default="", help="where it is installed")
    a.add_argument("--force", action="store_true", help="register it even though the board "
                   "on --port runs as another device now")
    ls = sub.add_parser("list", help="list registered boards")
    ls.add_argument("--site", help="only this site's boards")
    ls.add_argument("--json", action="store_true", help="print the list as JSON")
    sh = sub.add_parser("show", help="show one board")
    sh.add_argument("device_id", help="the board's device_id")
    sh.add_argument("--secrets", action="store_true", help="include its secrets")
    se = sub.add_parser("secrets", help="write a board's secrets.json (mode 0600)")
    se.add_argument("device_id", help="the board's device_id")
    se.add_argument("--out", type=Path, required=True, help="secrets file to write (mode 0600)")
    r = sub.add_parser("rotate", help="replace a board's keys")
    r.add_argument("device_id", help="the board's device_id")
    r.add_argument("--key", required=True, choices=[*KEY_KINDS, "all"],
                   help="which key to replace (all: every key the board has)")
    m = sub.add_parser("mosquitto", help="write the fleet's mosquitto passwd and acl files")
    m.add_argument("--out", type=Path, required=True,
                   help="folder for passwd and acl (e.g. /etc/mosquitto/bourg/)")
    m.add_argument("--ops-password-file", type=Path,
                   help="password for the bourg-ops account (read everything, send commands); "
                   "without it, the account in the old passwd file is kept")
    m.add_argument("--owner", default="mosquitto", help="the user mosquitto drops to, who "
                   "must own the files (default %(default)s; chown is done when run as root)")
    m.add_argument("--tls-host", action="append", default=[], metavar="NAME",
                   help="also write the TLS files: the site CA, a certificate for the broker "
                   "under this name (the boards' network.mqtt.host; repeat for more names or "
                   "addresses) and tls.conf, its TLS listener")
    m.add_argument("--site", help="the site whose CA signs the broker's certificate (needed "
                   "when the registry holds more than one site)")
    m.add_argument("--ops-cert-out", type=Path, metavar="DIR",
                   help="also write ops.crt and ops.key (0600), the bourg-ops account's "
                   "certificate for bourg monitor over TLS, in DIR (not the broker's folder: "
                   "keep them with the operators)")
    add_registry_argument(p, s, a, ls, sh, se, r, m)


def main(args: argparse.Namespace) -> int:
    from host_tools.field.boardid import IdentityError

    try:
        return ACTIONS[args.prov_cmd](args)
    except RegistryError as e:
        return _fail(str(e), e.exit_code)
    except BoardConfigError as e:
        code = EXIT_USAGE if isinstance(e, BoardConfigUnreadable) else EXIT_FAIL
        return _fail(f"invalid config, nothing registered:\n{e}", code)
    except (UsageError, LookupError) as e:
        return _fail(str(e), EXIT_USAGE)
    except IdentityError as e:
        return _fail(str(e), EXIT_FAIL)
    except BoardSilent as e:
        return _fail(str(e), EXIT_BOARD)
    except OSError as e:  # a file of ours: --out, a password file, mosquitto_passwd
        where = f"{e.filename}: " if e.filename else ""
        return _fail(f"{where}{e.strerror or e}", EXIT_USAGE)
    except subprocess.CalledProcessError as e:
        return _fail(f"{e.cmd[0]} failed (exit {e.returncode})", EXIT_FAIL)
    except sqlite3.Error as e:
        return _fail(f"registry {registry_path(args.registry)}: {e}", EXIT_FAIL)


def _fail(msg: str, code: int) -> int:
    print(f"bourg provision: {msg}", file=sys.stderr)
    return code


def _open(args: argparse.Namespace, create: bool = False) -> Registry:
    return Registry(registry_path(args.registry), create=create)


def _site(args: argparse.Namespace) -> int:
    password = read_secret_file(args.wifi_password_file, "--wifi-password-file")
    check_site(args.site, args.ssid, password)
    with _open(args, create=True) as reg:
        made = reg.site_ca(args.site) is None
        reg.set_site(args.site, args.ssid, password)
        ca, _ = reg.make_site_ca(args.site)
    print(f"site {args.site}: WiFi {args.ssid}; CA {'made' if made else 'kept'} "
          f"(SHA-256 {ca.fingerprint()[:16]}...)")
    return EXIT_OK


def _add(args: argparse.Namespace) -> int:
    cfg = load_and_validate(args.config)
    uid = args.unique_id
    if args.port:  # read from the board, checked against --unique-id and the config
        from host_tools.field.ports import resolve_port

        uid = checked_unique_id(resolve_port(args.port), cfg["device_id"], args.unique_id,
                                args.force)
    with _open(args, create=True) as reg:
        reg.require_writable()
        dev = reg.add(cfg["device_id"], cfg["role"], cfg["site"], unique_id=uid,
                      location=args.location, compartments=compartments_of(cfg))
        print(f"registered {dev.device_id} ({dev.role} at {dev.site}"
              f"{', unique_id ' + uid if uid else ''}); MQTT user {dev.mqtt_user}")
        if reg.site(dev.site) is None:
            print(f"note: site {dev.site} has no WiFi network yet: `bourg provision site "
                  f"{dev.site} --ssid ... --wifi-password-file ...`", file=sys.stderr)
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    path = registry_path(args.registry)
    if not path.exists() and args.registry is not None:  # a name typed wrong, not "none yet"
        raise UsageError(f"no registry at {path}")
    if not path.exists():
        print(f"note: no registry at {path} yet", file=sys.stderr)
        devs = []
    else:
        with _open(args) as reg:
            devs = [d.public() for d in reg.list(args.site)]
    if args.json:
        print(json.dumps(devs))
    else:
        for d in devs:
            print(f"{d['device_id']:<20} {d['role']:<15} {d['site']:<14} "
                  f"{d['unique_id'] or '-':<14} {d['location']}")
    return EXIT_OK


def _show(args: argparse.Namespace) -> int:
    with _open(args) as reg:
        dev = reg.get(args.device_id)
        if dev is None:
            raise RegistryError(f"device {args.device_id!r} is not registered")
        out = dev.public()
        if args.secrets:
            out["secrets"] = reg.secrets(dev.device_id)
    print(json.dumps(out, indent=2))
    return EXIT_OK


def _secrets(args: argparse.Namespace) -> int:
    with _open(args) as reg:
        secrets = reg.secrets(args.device_id)
    write_private(args.out, json.dumps(secrets))
    print(f"wrote {args.out} (mode 0600)")
    return EXIT_OK


def _rotate(args: argparse.Namespace) -> int:
    with _open(args) as reg:
        kinds = reg.rotate(args.device_id, args.key)
    print(f"rotated the {', '.join(kinds)} key(s) of {args.device_id}; deploy it and update "
          "the broker files for the change to take effect")
    return EXIT_OK


def _mosquitto(args: argparse.Namespace) -> int:
    if args.ops_cert_out and not args.tls_host:
        raise UsageError("--ops-cert-out needs --tls-host: the ops certificate comes with the "
                         "broker's TLS files")
    ops = (read_secret_file(args.ops_password_file, "--ops-password-file")
           if args.ops_password_file else None)
    if ops is not None and not passwd_safe(ops):
        raise UsageError("--ops-password-file: a ':' or a control character in the password; "
                         "mosquitto's password file cannot hold it")
    with _open(args) as reg:
        accounts = fleet_accounts(reg, ops)
        for name in args.tls_host:
            if not _host_name_ok(name):
                raise UsageError(f"--tls-host {name!r}: expected a host name or an IP address "
                                 "(ASCII letters, digits, '-' and '.', 1 to 64 characters)")
        site = _broker_site(reg, args) if args.tls_host else None
        ca = reg.site_ca(site) if site else None
        revoked = reg.revoked_serials(site) if site else []
    files = accounts.write(args.out)
    print(f"wrote {files[0]} and {files[1]} for {len(accounts.devices)} device(s); point "
          "mosquitto's password_file and acl_file at them")
    if ca is not None:
        broker = site_ca.issue(ca, args.tls_host[0], server_names=tuple(args.tls_host),
                               client=False)
        tls = TlsFiles.write(args.out, ca, broker, revoked)
        conf = args.out / "tls.conf"
        conf.write_text("\n".join(tls.listener(TLS_PORT)) + "\n")
        files = (*files, tls.key)
        print(f"wrote {tls.ca}, {tls.cert}, {tls.key}, {tls.crl} ({len(revoked)} revoked) "
              f"and {conf} (broker certificate for {', '.join(args.tls_host)}); include "
              "tls.conf in mosquitto.conf and restart mosquitto (a reload keeps connected "
              "clients whose certificate was revoked)")
        if args.ops_cert_out:
            ops_pair = site_ca.issue(ca, OPS_USER)
            args.ops_cert_out.mkdir(parents=True, exist_ok=True)
            (args.ops_cert_out / "ca.crt").write_text(ca.cert_pem)
            (args.ops_cert_out / "ops.crt").write_text(ops_pair.cert_pem)
            write_private(args.ops_cert_out / "ops.key", ops_pair.key_pem)
            print(f"wrote ca.crt, ops.crt and ops.key in {args.ops_cert_out}: the {OPS_USER} "
                  "account's certificate, for bourg monitor --broker mqtts://... --ca ca.crt "
                  "--cert ops.crt --key ops.key")
    for note in hand_over(files, args.owner):
        print(note, file=sys.stderr)
    return EXIT_OK


def _host_name_ok(name: str) -> bool:
    """A name a certificate can carry for the boards to check (their config's mqtt.host)."""
    import re

    return bool(re.fullmatch(r"[A-Za-z0-9.-]{1,64}", name)) and not name.startswith(("-", "."))


def _broker_site(reg: Registry, args: argparse.Namespace) -> str:
    """The site whose CA signs the broker's certificate: --site, or the registry's one
    site; it must have a CA."""
    sites = sorted({d.site for d in reg.list()} | ({args.site} if args.site else set()))
    site = args.site or (sites[0] if len(sites) == 1 else None)
    if site is None:
        raise UsageError("the registry holds sites " + ", ".join(sites) + ": name the one "
                         "this broker serves with --site")
    if reg.site_ca(site) is None:
        raise UsageError(f"site {site} has no CA yet: run `bourg provision site {site} "
                         "--ssid ... --wifi-password-file ...` first")
    return site


ACTIONS: dict[str, Callable[[argparse.Namespace], int]] = {
    "site": _site, "add": _add, "list": _list, "show": _show, "secrets": _secrets,
    "rotate": _rotate, "mosquitto": _mosquitto}
