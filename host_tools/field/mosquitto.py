"""A real mosquitto broker for tests and tools: free loopback port, per-device passwords and an
ACL so each device may publish only under its own topics.

    with Mosquitto(tmp_path) as broker:
        pw = broker.add_device("demo", "pole-1")        # user "bourg-pole-1"
        broker.port, broker.ops_user, broker.ops_password
        broker.kill(); broker.restart()                    # same port
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from host_tools.field.registry import Registry
    from host_tools.field.site_ca import KeyPair

OPS_USER = "bourg-ops"
TLS_PORT = 8883


def mosquitto_binary() -> str:
    for cand in (shutil.which("mosquitto"), "/usr/sbin/mosquitto"):
        if cand and Path(cand).exists():
            return cand
    raise FileNotFoundError("mosquitto is not installed (Debian: apt-get install mosquitto; "
                            "`make setup` does it)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(proc: subprocess.Popen[Any], host: str, port: int,
                   timeout: float = 10.0) -> None:
    """Return once a broker just started as `proc` accepts connections on host:port; raise
    with its stderr if it exits first, TimeoutError if it never listens."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            err = proc.stderr.read() if proc.stderr else ""
            err = err.decode() if isinstance(err, bytes) else err
            raise RuntimeError(f"mosquitto exited at start: {err}")
        try:
            socket.create_connection((host, port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"mosquitto did not listen on {port}")


def device_user(device_id: str) -> str:
    return f"bourg-{device_id}"


def acl_text(devices: list[tuple[str, str, str]]) -> str:
    """Each device (user, site, device_id) may write only under bourg/<site>/<id>/ and read
    only its own commands; the ops account reads everything and writes commands."""
    lines = [f"user {OPS_USER}", "topic read bourg/#", "topic write bourg/+/+/cmd/#", ""]
    for user, site, dev in devices:
        lines += [f"user {user}", f"topic write bourg/{site}/{dev}/#",
                  f"topic read bourg/{site}/{dev}/cmd/#", ""]
    return "\n".join(lines)


def write_acl(path: Path, devices: list[tuple[str, str, str]]) -> None:
    path.write_text(acl_text(devices))
    os.chmod(path, 0o600)


def passwd_safe(secret: str) -> bool:
    """A password mosquitto_passwd -U keeps as it is: it cuts a line at its first ':' and
    trims blanks."""
    return ":" not in secret and secret == secret.strip() and \
        not any(ord(c) < 32 for c in secret)


def write_passwd(path: Path, passwords: dict[str, str], keep: tuple[str, ...] = ()) -> None:
    """A mosquitto password file (hashed by mosquitto_passwd), mode 0600, replaced at once.
    The plain lines go to a file in a fresh 0700 folder beside it, `mosquitto_passwd -U`
    hashes them there under umask 077 (its own copy of the plain file included), and the
    result is renamed over `path`: no password on a command line, where `ps` shows it, no
    plain copy others can read, and a failure or Ctrl-C leaves the old file whole. `keep`:
    users whose hashed line in the old file is carried over when `passwords` has none for
    them. ValueError for a password -U would change (a ':' ends it there; blanks trimmed)."""
    import tempfile

    for user, secret in passwords.items():
        if not passwd_safe(secret):
            raise ValueError(f"the password of {user} holds a ':', a blank at an end or a "
                             "control character, which mosquitto_passwd would change")
    old = path.read_text().splitlines() if path.exists() else []
    kept = [line for line in old if line.split(":", 1)[0] in keep
            and line.split(":", 1)[0] not in passwords]
    folder = Path(tempfile.mkdtemp(prefix="." + path.name + ".", dir=path.parent))
    try:
        plain = folder / "passwd"
        fd = os.open(plain, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            for user, secret in passwords.items():
                f.write(f"{user}:{secret}\n")
        subprocess.run(["mosquitto_passwd", "-U", str(plain)], check=True, capture_output=True,
                       umask=0o077)
        if kept:
            with plain.open("a") as f:
                f.write("".join(line + "\n" for line in kept))
        os.chmod(plain, 0o600)
        os.replace(plain, path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@dataclass
class FleetAccounts:
    """A site broker's accounts: each user's password (for write_passwd) and each device's
    (user, site, device_id) (for write_acl)."""

    passwords: dict[str, str]
    devices: list[tuple[str, str, str]]

    def write(self, folder: Path) -> tuple[Path, Path]:
        """The passwd and acl files in `folder` (made if need be), both mode 0600."""
        folder.mkdir(parents=True, exist_ok=True)
        files = (folder / "passwd", folder / "acl")
        # the ops account is written only with its password given: without one, a rerun
        # (after a rotation, say) keeps the account the site already has
        write_passwd(files[0], self.passwords, keep=(OPS_USER,))
        write_acl(files[1], self.devices)
        return files


def fleet_accounts(reg: Registry, ops_password: str | None = None) -> FleetAccounts:
    """Every registered device's account but a parking sensor's (it never reaches the
    broker), with its own MQTT password from the registry, and
    the OPS_USER account (read everything, send commands; what `bourg monitor` logs in as)
    when an ops password is given; without one, write() keeps the account the old passwd
    file has. The ACL names OPS_USER either way (acl_text)."""
    from host_tools.field.registry import ROLES_WITHOUT_BROKER

    devices = [d for d in reg.list() if d.role not in ROLES_WITHOUT_BROKER]
    passwords = {d.mqtt_user: reg.secrets(d.device_id)["mqtt_password"] for d in devices}
    if ops_password is not None:
        passwords[OPS_USER] = ops_password
    return FleetAccounts(passwords, [(d.mqtt_user, d.site, d.device_id) for d in devices])


@dataclass
class TlsFiles:
    """The broker's side of the site's TLS, as files mosquitto reads (PEM): the site's CA,
    which every board's certificate must come from, and the broker's own pair."""

    ca: Path
    cert: Path
    key: Path
    crl: Path | None = None  # certificates the site revoked (a rotation, a stolen board)
    require_client_cert: bool = True  # False only to play a broker that checks nobody

    @classmethod
    def write(cls, folder: Path, ca: KeyPair, broker: KeyPair,
              revoked: list[int] | None = None) -> TlsFiles:
        """ca.crt, broker.crt, broker.key (0600) and crl.pem (the `revoked` serials) in
        `folder`."""
        from host_tools.field.provision import write_private
        from host_tools.field.site_ca import revocation_list

        folder.mkdir(parents=True, exist_ok=True)
        files = cls(folder / "ca.crt", folder / "broker.crt", folder / "broker.key",
                    folder / "crl.pem")
        files.ca.write_text(ca.cert_pem)
        files.cert.write_text(broker.cert_pem)
        write_private(files.key, broker.key_pem)
        assert files.crl is not None
        files.crl.write_text(revocation_list(ca, revoked or []))
        return files

    def listener(self, port: int, bind: str | None = None) -> list[str]:
        """mosquitto.conf lines for a TLS listener that takes only clients with a
        certificate from the site's CA and knows each by its certificate's CN, so the ACL's
        per-device users apply as they are (use_identity_as_username)."""
        lines = [f"listener {port}{' ' + bind if bind else ''}",
                 f"cafile {self.ca}", f"certfile {self.cert}", f"keyfile {self.key}"]
        if self.require_client_cert:
            lines += ["require_certificate true", "use_identity_as_username true"]
        if self.crl is not None:
            lines.append(f"crlfile {self.crl}")
        return lines


def hand_over(files: tuple[Path, ...], owner: str = "mosquitto") -> list[str]:
    """Give the account files to the user mosquitto runs as. Started as root, mosquitto
    drops to that user (its `user` option, default mosquitto) before it opens password_file
    and acl_file, and wants them 0600 and owned by it (mosquitto.conf(5)); a root-owned 0600
    file stops it at start with "Unable to open pwfile". Returns what is left for the
    technician to do, as notes."""
    names = " ".join(str(f) for f in files)
    try:
        pw = pwd.getpwnam(owner)
    except KeyError:
        return [f"note: no user {owner!r} on this machine; on the broker, run "
                f"`chown {owner}: {names}` (mosquitto reads them as that user)"]
    if pw.pw_uid == os.geteuid():
        return []
    if os.geteuid() != 0:
        return [f"note: mosquitto reads these files as the user {owner!r}: run "
                f"`sudo chown {owner}: {names}` before starting it"]
    for f in files:
        os.chown(f, pw.pw_uid, pw.pw_gid)
    for d in files[0].resolve().parents:
        if d.stat().st_uid != pw.pw_uid and not d.stat().st_mode & 0o001:
            return [f"note: {owner!r} owns the files now, but cannot reach them: {d} is "
                    f"closed to other users (chmod o+x {d}, or write them elsewhere)"]
    return []


class Mosquitto:
    def __init__(self, workdir: str | Path, port: int | None = None, *,
                 account_files: tuple[Path, Path] | None = None,
                 tls: TlsFiles | None = None) -> None:
        """account_files: a (passwd, acl) pair made elsewhere (`bourg provision mosquitto`),
        used as they are instead of the accounts added here. tls: also listen with TLS on
        `tls_port`, for boards with a certificate from the site's CA."""
        self.account_files = account_files
        self.tls = tls
        self.tls_port = free_port() if tls is not None else None
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.devices: dict[str, tuple[str, str]] = {}  # user -> (site, device_id)
        self._passwords: dict[str, str] = {}
        self.ops_user = OPS_USER
        self.ops_password = secrets.token_urlsafe(16)
        self._passwords[OPS_USER] = self.ops_password
        self.proc: subprocess.Popen[bytes] | None = None

    # -- accounts --------------------------------------------------------------------------
    def add_device(self, site: str, device_id: str, password: str | None = None) -> str:
        """Create the device's account (takes effect at the next start/restart/reload)."""
        user = device_user(device_id)
        self.devices[user] = (site, device_id)
        self._passwords[user] = password or secrets.token_urlsafe(16)
        if self.proc is not None:
            self._write_files()
            self.proc.send_signal(signal.SIGHUP)
            time.sleep(0.2)
        return self._passwords[user]

    def password(self, user: str) -> str:
        return self._passwords[user]

    def _write_files(self) -> None:
        pw, aclf = self.dir / "passwd", self.dir / "acl"
        if self.account_files:
            shutil.copyfile(self.account_files[0], pw)
            shutil.copyfile(self.account_files[1], aclf)
            os.chmod(pw, 0o600)
            os.chmod(aclf, 0o600)
        else:
            write_passwd(pw, self._passwords)
            write_acl(aclf, [(u, s, d) for u, (s, d) in self.devices.items()])
        conf = self.dir / "mosquitto.conf"
        tls = self.tls.listener(self.tls_port, "127.0.0.1") if self.tls and self.tls_port \
            else []
        conf.write_text("\n".join([
            *tls,
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous false",
            f"password_file {pw}",
            f"acl_file {aclf}",
            "persistence false",
            # Started as root, mosquitto drops to its own user before it reads these files;
            # `bourg provision mosquitto` gives that user the files it writes (hand_over),
            # but the test's files sit under pytest's 0700 tmp dirs, which that user cannot
            # enter: stay root here.
            *(["user root"] if os.geteuid() == 0 else []),
            f"log_dest file {self.dir / 'mosquitto.log'}",
            "log_type error", "log_type warning", "log_type notice", "log_type information",
            "",
        ]))
        os.chmod(conf, 0o600)

    # -- process ---------------------------------------------------------------------------
    def start(self) -> Mosquitto:
        self._write_files()
        self.proc = subprocess.Popen([mosquitto_binary(), "-c", str(self.dir / "mosquitto.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_listening(self.proc, self.host, self.port)
        if self.tls_port:
            wait_listening(self.proc, self.host, self.tls_port)
        return self

    def kill(self) -> None:
        """SIGKILL: the broker dies without a goodbye, as on a crash or power loss."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> Mosquitto:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
