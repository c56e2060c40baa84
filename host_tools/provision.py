"""`bourg provision`: register boards, keep their secrets, and write the broker's account files.

    bourg provision site demo-town --ssid bourg-demo --wifi-password-file wifi.txt
    bourg provision add board_configs/pole-01.json [--port /dev/ttyUSB0] [--location "..."]
    bourg provision list [--json]
    bourg provision show pole-01 [--secrets]
    bourg provision secrets pole-01 --out pole-01.secrets.json     # mode 0600, for deploy
    bourg provision rotate pole-01 --key mqtt|espnow|bank|all
    bourg provision mosquitto --out broker/                        # passwd + acl for the fleet

Secrets are printed only with --secrets, and files holding them are written mode 0600.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .boardconfig import BoardConfigError, load_and_validate
from .mosquitto import write_acl, write_passwd
from .registry import DEFAULT_PATH, Registry, RegistryError

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def write_private(path: Path, text: str) -> None:
    """Write a secrets file readable by its owner only, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def read_unique_id(port: str) -> str:
    from .serialboard import SerialBoard

    b = SerialBoard(port)
    try:
        return b.exec("import machine, binascii\n"
                      "print(binascii.hexlify(machine.unique_id()).decode())").strip()
    finally:
        b.close()


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--registry", type=Path, default=Path(os.environ.get(
        "BOURG_REGISTRY", DEFAULT_PATH)), help="registry file (default %(default)s, or "
        "$BOURG_REGISTRY)")
    sub = p.add_subparsers(dest="prov_cmd", metavar="ACTION", required=True)
    s = sub.add_parser("site", help="set a site's WiFi network")
    s.add_argument("site")
    s.add_argument("--ssid", required=True)
    s.add_argument("--wifi-password-file", type=Path, required=True,
                   help="file holding the WiFi password (kept out of shell history)")
    a = sub.add_parser("add", help="register a board from its config and make its keys")
    a.add_argument("config", type=Path)
    a.add_argument("--port", help="read the board's unique_id over this serial port")
    a.add_argument("--unique-id", help="the board's unique_id in hex, if known")
    a.add_argument("--location", default="", help="where it is installed")
    ls = sub.add_parser("list", help="list registered boards")
    ls.add_argument("--site")
    ls.add_argument("--json", action="store_true")
    sh = sub.add_parser("show", help="show one board")
    sh.add_argument("device_id")
    sh.add_argument("--secrets", action="store_true", help="include its secrets")
    se = sub.add_parser("secrets", help="write a board's secrets.json (mode 0600)")
    se.add_argument("device_id")
    se.add_argument("--out", type=Path, required=True)
    r = sub.add_parser("rotate", help="replace a board's keys")
    r.add_argument("device_id")
    r.add_argument("--key", default="all", choices=["mqtt", "espnow", "bank", "all"])
    m = sub.add_parser("mosquitto", help="write the fleet's mosquitto passwd and acl files")
    m.add_argument("--out", type=Path, required=True)
    m.add_argument("--ops-password-file", type=Path,
                   help="password for the bourg-ops account (read everything, send commands)")


def provision_main(args: argparse.Namespace) -> int:
    try:
        with Registry(args.registry) as reg:
            return _run(reg, args)
    except RegistryError as e:
        print(f"bourg provision: {e}", file=sys.stderr)
        return EXIT_FAIL
    except BoardConfigError as e:
        print(f"bourg provision: invalid config, nothing registered:\n{e}", file=sys.stderr)
        return EXIT_USAGE


def _run(reg: Registry, args: argparse.Namespace) -> int:
    cmd = args.prov_cmd
    if cmd == "site":
        reg.set_site(args.site, args.ssid, args.wifi_password_file.read_text().strip())
        print(f"site {args.site}: WiFi {args.ssid}")
    elif cmd == "add":
        cfg = load_and_validate(args.config)
        uid = args.unique_id
        if args.port and not uid:
            uid = read_unique_id(args.port)
        dev = reg.add(cfg["device_id"], cfg["role"], cfg["site"], unique_id=uid,
                      location=args.location)
        print(f"registered {dev.device_id} ({dev.role} at {dev.site}"
              f"{', unique_id ' + uid if uid else ''}); MQTT user {dev.mqtt_user}")
        if reg.site(dev.site) is None:
            print(f"note: site {dev.site} has no WiFi network yet: `bourg provision site "
                  f"{dev.site} --ssid ... --wifi-password-file ...`", file=sys.stderr)
    elif cmd == "list":
        devs = [d.public() for d in reg.list(args.site)]
        if args.json:
            print(json.dumps(devs))
        else:
            for d in devs:
                print(f"{d['device_id']:<20} {d['role']:<15} {d['site']:<14} "
                      f"{d['unique_id'] or '-':<14} {d['location']}")
    elif cmd == "show":
        dev = reg.get(args.device_id)
        if dev is None:
            raise RegistryError(f"device {args.device_id!r} is not registered")
        out = dev.public()
        if args.secrets:
            out["secrets"] = reg.secrets(dev.device_id)
        print(json.dumps(out, indent=2))
    elif cmd == "secrets":
        write_private(args.out, json.dumps(reg.secrets(args.device_id)))
        print(f"wrote {args.out} (mode 0600)")
    elif cmd == "rotate":
        reg.rotate(args.device_id, args.key)
        print(f"rotated {args.key} key(s) of {args.device_id}; deploy its secrets and update "
              "the broker files for the change to take effect")
    elif cmd == "mosquitto":
        args.out.mkdir(parents=True, exist_ok=True)
        passwords = {d.mqtt_user: reg.secrets(d.device_id)["mqtt_password"]
                     for d in reg.list()}
        if args.ops_password_file:
            passwords["bourg-ops"] = args.ops_password_file.read_text().strip()
        write_passwd(args.out / "passwd", passwords)
        write_acl(args.out / "acl", [(d.mqtt_user, d.site, d.device_id) for d in reg.list()])
        print(f"wrote {args.out / 'passwd'} and {args.out / 'acl'} for {len(reg.list())} "
              "device(s); point mosquitto's password_file and acl_file at them")
    return EXIT_OK
