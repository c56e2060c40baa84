"""`bourg provision`: the registry, its secrets and the broker files, through the CLI."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "board_configs" / "fieldtest-01.json"


@pytest.fixture
def bourg(tmp_path: Path):
    reg = tmp_path / "reg" / "fleet.sqlite"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "host_tools.cli", "provision",
                               "--registry", str(reg), *args], capture_output=True, text=True,
                              timeout=60)
    run.registry = reg  # type: ignore[attr-defined]
    return run


def test_add_show_and_secrets_stay_private(bourg, tmp_path: Path) -> None:
    wifi = tmp_path / "wifi.txt"
    wifi.write_text("street-wifi-secret\n")
    assert bourg("site", "demo-town", "--ssid", "bourg-demo", "--wifi-password-file",
                 str(wifi)).returncode == 0
    r = bourg("add", str(CONFIG), "--unique-id", "240ac4100001", "--location", "Place 1")
    assert r.returncode == 0, r.stderr
    assert "registered fieldtest-01" in r.stdout
    assert bourg.registry.stat().st_mode & 0o077 == 0

    shown = json.loads(bourg("show", "fieldtest-01").stdout)
    assert shown["mqtt_user"] == "bourg-fieldtest-01" and "secrets" not in shown
    full = json.loads(bourg("show", "fieldtest-01", "--secrets").stdout)
    secrets = full["secrets"]
    assert secrets["wifi_password"] == "street-wifi-secret"
    assert len(secrets["mqtt_password"]) >= 24 and len(bytes.fromhex(secrets["espnow_key"])) == 16
    for out in (r.stdout, r.stderr, bourg("list").stdout, bourg("show", "fieldtest-01").stdout):
        assert secrets["mqtt_password"] not in out and "street-wifi-secret" not in out

    out = tmp_path / "s.json"
    assert bourg("secrets", "fieldtest-01", "--out", str(out)).returncode == 0
    assert out.stat().st_mode & 0o077 == 0
    assert json.loads(out.read_text()) == secrets


def test_duplicate_id_or_board_is_refused_and_changes_nothing(bourg, tmp_path: Path) -> None:
    assert bourg("add", str(CONFIG), "--unique-id", "aa").returncode == 0
    before = bourg("show", "fieldtest-01", "--secrets").stdout
    r = bourg("add", str(CONFIG), "--unique-id", "bb")
    assert r.returncode == 1 and "already registered" in r.stderr
    other = json.loads(CONFIG.read_text())
    other["device_id"] = "fieldtest-02"
    cfg2 = tmp_path / "ft2.json"
    cfg2.write_text(json.dumps(other))
    r = bourg("add", str(cfg2), "--unique-id", "aa")
    assert r.returncode == 1 and "already registered as 'fieldtest-01'" in r.stderr
    assert bourg("show", "fieldtest-01", "--secrets").stdout == before
    assert len(json.loads(bourg("list", "--json").stdout)) == 1


def test_rotate_replaces_keys(bourg) -> None:
    bourg("add", str(CONFIG))
    before = json.loads(bourg("show", "fieldtest-01", "--secrets").stdout)["secrets"]
    assert bourg("rotate", "fieldtest-01", "--key", "mqtt").returncode == 0
    after = json.loads(bourg("show", "fieldtest-01", "--secrets").stdout)["secrets"]
    assert after["mqtt_password"] != before["mqtt_password"]
    assert after["espnow_key"] == before["espnow_key"]


def test_invalid_config_registers_nothing(bourg, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": 1}')
    r = bourg("add", str(bad))
    assert r.returncode == 1 and "invalid config, nothing registered" in r.stderr  # a check
    assert not bourg.registry.exists()  # not even made


def test_mosquitto_files_for_the_fleet(bourg, tmp_path: Path) -> None:
    bourg("add", str(CONFIG))
    out = tmp_path / "broker"
    assert bourg("mosquitto", "--out", str(out)).returncode == 0
    acl = (out / "acl").read_text()
    assert "user bourg-fieldtest-01\ntopic write bourg/demo-town/fieldtest-01/#" in acl
    assert (out / "passwd").read_text().startswith("bourg-fieldtest-01:$7$")
    assert (out / "passwd").stat().st_mode & 0o077 == 0


def _cli(*args: str, env: dict[str, str] | None = None,
         cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "host_tools.cli", *args], capture_output=True,
                          text=True, timeout=60, env=env, cwd=cwd)


def _one_clear_line(r: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert r.returncode == code, (r.returncode, r.stderr)
    assert text in r.stderr and "Traceback" not in r.stderr + r.stdout
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_bad_input_gets_one_line_and_exit_2(bourg, tmp_path: Path) -> None:
    """No traceback for a missing port or a missing password file, and nothing registered
    when a check fails."""
    _one_clear_line(bourg("add", str(CONFIG), "--port", "/dev/ttyUSB9"), 2,
                    "no such serial port /dev/ttyUSB9")
    assert not bourg.registry.exists()
    missing = str(tmp_path / "nope.txt")
    _one_clear_line(bourg("site", "demo-town", "--ssid", "x", "--wifi-password-file", missing),
                    2, f"cannot read --wifi-password-file {missing}")
    _one_clear_line(_cli("monitor", "--broker", "mqtt://127.0.0.1:1", "--site", "x",
                         "--password-file", missing), 2, f"--password-file {missing}")
    assert bourg("add", str(CONFIG)).returncode == 0
    _one_clear_line(bourg("mosquitto", "--out", str(tmp_path / "b"), "--ops-password-file",
                          missing), 2, "cannot read --ops-password-file")
    _one_clear_line(bourg("show", "fieldtest-01", "--registry", str(tmp_path / "typo.sqlite")),
                    2, "no registry at")


def test_a_site_the_boards_would_refuse_is_not_kept(bourg, tmp_path: Path) -> None:
    """An empty password file (every board would get an empty password), one longer than
    WiFi allows (every deploy refused after), a binary file, a site name no topic can
    carry: one line each, exit 2, nothing in the registry."""
    files = {"empty": b"\n", "long": b"x" * 100, "binary": b"\xff\xfe\x00"}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    for args, text in (
            (("demo-town", "--wifi-password-file", "empty"), "is empty"),
            (("demo-town", "--wifi-password-file", "long"), "at most 64"),
            (("demo-town", "--wifi-password-file", "binary"), "not a text file"),
            (("a/b#", "--wifi-password-file", "long"), "invalid character '/'")):
        site, opt, f = args
        _one_clear_line(bourg("site", site, "--ssid", "bourg-demo", opt, str(tmp_path / f)),
                        2, text)
    _one_clear_line(bourg("site", "demo-town", "--ssid", "", "--wifi-password-file",
                          str(CONFIG.parent / "pole-01.json")), 2, "--ssid")
    assert not bourg.registry.exists()


def test_a_broker_url_that_cannot_be_reached_is_one_line(tmp_path: Path) -> None:
    for url, text in (("mqtt://127.0.0.1:99999", "--broker wants"),
                      ("mqtt://127.0.0.1:abc", "--broker wants"),
                      ("mqtt://[::1", "--broker wants"),
                      ("mqtt://caf\u00e9..x:1883", "--broker host")):
        _one_clear_line(_cli("monitor", "--broker", url, "--site", "x"), 2, text)


@pytest.mark.slow
def test_a_board_that_does_not_answer_is_exit_3(bourg) -> None:
    master, slave = os.openpty()  # a port with nothing behind it
    try:
        r = bourg("add", str(CONFIG), "--port", os.ttyname(slave))
    finally:
        os.close(master)
        os.close(slave)
    _one_clear_line(r, 3, "the board did not answer")
    assert not bourg.registry.exists()  # not even made


def test_read_only_registry_is_refused_not_chmodded(bourg) -> None:
    assert bourg("add", str(CONFIG)).returncode == 0
    before = bourg("show", "fieldtest-01", "--secrets").stdout
    bourg.registry.chmod(0o400)
    try:
        _one_clear_line(bourg("rotate", "fieldtest-01", "--key", "mqtt"), 2, "is read-only")
        wifi = bourg.registry.parent / "wifi.txt"
        wifi.write_text("street-wifi-secret\n")
        _one_clear_line(bourg("site", "demo-town", "--ssid", "x", "--wifi-password-file",
                              str(wifi)), 2, "is read-only")
        assert stat.S_IMODE(bourg.registry.stat().st_mode) == 0o400
        assert bourg("show", "fieldtest-01", "--secrets").stdout == before  # reads still work
    finally:
        bourg.registry.chmod(0o600)


def test_rotate_needs_a_key_and_bank_only_on_lockers(bourg, tmp_path: Path) -> None:
    bourg("add", str(CONFIG))
    before = bourg("show", "fieldtest-01", "--secrets").stdout
    r = bourg("rotate", "fieldtest-01")
    assert r.returncode == 2 and "--key" in r.stderr
    _one_clear_line(bourg("rotate", "fieldtest-01", "--key", "bank"), 2,
                    "only lockers have a bank key")
    assert bourg("show", "fieldtest-01", "--secrets").stdout == before
    reg = bourg.registry
    from host_tools.field.registry import Registry

    with Registry(reg) as r2:
        r2.add("locker-09", "locker", "demo-town")
        old = r2.secrets("locker-09")
    r = bourg("rotate", "locker-09", "--key", "all")
    assert r.returncode == 0 and "mqtt, espnow, bank" in r.stdout
    with Registry(reg) as r2:
        new = r2.secrets("locker-09")
    assert all(new[k] != old[k] for k in ("mqtt_password", "espnow_key", "bank_key"))


@pytest.mark.slow
def test_every_command_takes_the_registry_the_same_way(tmp_path: Path) -> None:
    """--registry after the action as well as before it; $BOURG_REGISTRY; else the default
    path, for provision, locker and deploy alike."""
    reg = tmp_path / "r.sqlite"
    assert _cli("provision", "add", str(CONFIG), "--registry", str(reg)).returncode == 0
    after = _cli("provision", "list", "--json", "--registry", str(reg))
    before = _cli("provision", "--registry", str(reg), "list", "--json")
    env = {**os.environ, "BOURG_REGISTRY": str(reg)}
    from_env = _cli("provision", "list", "--json", env=env)
    assert after.stdout == before.stdout == from_env.stdout
    assert json.loads(after.stdout)[0]["device_id"] == "fieldtest-01"
    # the default path, relative to where the technician stands
    clean = {k: v for k, v in os.environ.items() if k != "BOURG_REGISTRY"}
    assert _cli("provision", "add", str(CONFIG), env=clean, cwd=tmp_path).returncode == 0
    assert (tmp_path / "registry" / "bourg-registry.sqlite").exists()
    for where in (("locker", "admin", "--bank", "fieldtest-01", "--registry", str(reg)),
                  ("locker", "--registry", str(reg), "admin", "--bank", "fieldtest-01")):
        r = _cli(*where)
        assert r.returncode == 2 and "is not a locker bank" in r.stderr, r.stderr
    r = _cli("deploy", str(CONFIG), "--registry", str(tmp_path / "none.sqlite"), "--port",
             "/dev/null")
    _one_clear_line(r, 2, "no registry at")


def test_registry_folder_is_ignored_by_git() -> None:
    r = subprocess.run(["git", "check-ignore", "-q", "registry/bourg-registry.sqlite"],
                       cwd=REPO, capture_output=True)
    assert r.returncode == 0


def test_checked_unique_id_refuses_a_board_that_is_not_the_unique_id_given(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The technician's --unique-id names the board they mean: another board on the port is
    refused, even with --force (which only overrides the device it runs as)."""
    from host_tools.field import provision
    from host_tools.field.boardid import BoardIdentity, IdentityError

    monkeypatch.setattr(provision, "read_board_identity",
                        lambda port: BoardIdentity("240ac4100002", None))
    for force in (False, True):
        with pytest.raises(IdentityError, match="has unique_id 240ac4100002, not 240ac4100001"):
            provision.checked_unique_id("/dev/ttyUSB0", "fieldtest-01", "240ac4100001", force)
    assert provision.checked_unique_id("/dev/ttyUSB0", "fieldtest-01",
                                       "240ac4100002") == "240ac4100002"
    assert provision.checked_unique_id("/dev/ttyUSB0", "fieldtest-01") == "240ac4100002"


def _site_with_board(bourg, tmp_path: Path) -> None:
    wifi = tmp_path / "wifi.txt"
    wifi.write_text("street-wifi-secret\n")
    r = bourg("site", "demo-town", "--ssid", "bourg-demo", "--wifi-password-file", str(wifi))
    assert r.returncode == 0 and "CA made" in r.stdout, r.stderr
    assert bourg("add", str(CONFIG)).returncode == 0


def test_site_ca_signs_each_board_and_the_broker(bourg, tmp_path: Path) -> None:
    """provision site makes the site's CA once; a board's secrets carry the CA and its own
    certificate (CN = its MQTT user, DER for the board); the broker's files carry a
    certificate for the names the boards use, and its key stays private."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    _site_with_board(bourg, tmp_path)
    wifi = tmp_path / "wifi.txt"
    again = bourg("site", "demo-town", "--ssid", "bourg-demo", "--wifi-password-file",
                  str(wifi))
    assert "CA kept" in again.stdout  # the boards' certificates hang on it
    s = json.loads(bourg("show", "fieldtest-01", "--secrets").stdout)["secrets"]
    ca = x509.load_der_x509_certificate(base64.b64decode(s["tls_ca"]))
    board = x509.load_der_x509_certificate(base64.b64decode(s["tls_cert"]))
    board.verify_directly_issued_by(ca)
    assert board.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == \
        "bourg-fieldtest-01"
    assert isinstance(board.public_key(), ec.EllipticCurvePublicKey)
    same = json.loads(bourg("show", "fieldtest-01", "--secrets").stdout)["secrets"]
    assert same["tls_cert"] == s["tls_cert"]  # issued once, kept

    out = tmp_path / "broker"
    ops_dir = tmp_path / "operators"
    r = bourg("mosquitto", "--out", str(out), "--tls-host", "mqtt.demo-town.bourg",
              "--tls-host", "10.0.0.2", "--ops-cert-out", str(ops_dir))
    assert r.returncode == 0, r.stderr
    broker = x509.load_pem_x509_certificate((out / "broker.crt").read_bytes())
    broker.verify_directly_issued_by(ca)
    names = broker.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["mqtt.demo-town.bourg"]
    assert [str(a) for a in names.get_values_for_type(x509.IPAddress)] == ["10.0.0.2"]
    assert (out / "broker.key").stat().st_mode & 0o077 == 0
    conf = (out / "tls.conf").read_text()
    assert "require_certificate true" in conf and "use_identity_as_username true" in conf
    assert not (out / "ops.key").exists()  # the operators' key stays off the broker
    ops = x509.load_pem_x509_certificate((ops_dir / "ops.crt").read_bytes())
    ops.verify_directly_issued_by(ca)
    assert ops.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "bourg-ops"
    assert (ops_dir / "ops.key").stat().st_mode & 0o077 == 0
    for bad in ("", "mqtt.ville-\u00e9t\u00e9.fr", "x" * 65):
        r = bourg("mosquitto", "--out", str(tmp_path / "b2"), "--tls-host", bad)
        assert r.returncode == 2 and "--tls-host" in r.stderr and "Traceback" not in r.stderr
        assert not (tmp_path / "b2" / "passwd").exists()  # refused before anything is written


def test_rotating_tls_issues_a_new_certificate_and_revokes_the_old(bourg,
                                                                     tmp_path: Path) -> None:
    from cryptography import x509

    _site_with_board(bourg, tmp_path)
    before = json.loads(bourg("show", "fieldtest-01", "--secrets").stdout)["secrets"]
    r = bourg("rotate", "fieldtest-01", "--key", "tls")
    assert r.returncode == 0, r.stderr
    after = json.loads(bourg("show", "fieldtest-01", "--secrets").stdout)["secrets"]
    assert after["tls_cert"] != before["tls_cert"] and after["tls_key"] != before["tls_key"]
    assert after["tls_ca"] == before["tls_ca"]
    # the old certificate is still signed and in date: the broker's CRL must name it
    out = tmp_path / "broker"
    r = bourg("mosquitto", "--out", str(out), "--tls-host", "mqtt.demo-town.bourg")
    assert r.returncode == 0 and "(1 revoked)" in r.stdout, r.stderr
    crl = x509.load_pem_x509_crl((out / "crl.pem").read_bytes())
    ca = x509.load_der_x509_certificate(base64.b64decode(after["tls_ca"]))
    assert crl.is_signature_valid(ca.public_key())  # type: ignore[arg-type]
    old = x509.load_der_x509_certificate(base64.b64decode(before["tls_cert"]))
    new = x509.load_der_x509_certificate(base64.b64decode(after["tls_cert"]))
    assert crl.get_revoked_certificate_by_serial_number(old.serial_number) is not None
    assert crl.get_revoked_certificate_by_serial_number(new.serial_number) is None
    assert f"crlfile {out / 'crl.pem'}" in (out / "tls.conf").read_text()


def test_tls_needs_the_site_ca(bourg, tmp_path: Path) -> None:
    assert bourg("add", str(CONFIG)).returncode == 0
    r = bourg("rotate", "fieldtest-01", "--key", "tls")
    assert r.returncode == 2 and "has no TLS certificate" in r.stderr
    r = bourg("mosquitto", "--out", str(tmp_path / "b"), "--tls-host", "mqtt.x")
    assert r.returncode == 2 and "has no CA yet" in r.stderr and "Traceback" not in r.stderr


def test_a_parking_sensor_gets_no_broker_keys(bourg, tmp_path: Path) -> None:
    """A battery node speaks ESP-NOW only: a certificate or an MQTT password in it would only
    be one more key for whoever digs it out of its bay."""
    _site_with_board(bourg, tmp_path)
    assert bourg("add", str(REPO / "board_configs" / "ps-a01.json")).returncode == 0
    s = json.loads(bourg("show", "ps-a01", "--secrets").stdout)["secrets"]
    assert not {"tls_ca", "tls_cert", "tls_key", "mqtt_user", "mqtt_password"} & set(s)
    out = tmp_path / "broker"
    assert bourg("mosquitto", "--out", str(out)).returncode == 0
    assert "bourg-ps-a01" not in (out / "passwd").read_text()
    assert "bourg-ps-a01" not in (out / "acl").read_text()
    assert "bourg-fieldtest-01" in (out / "acl").read_text()
    r = bourg("rotate", "ps-a01", "--key", "tls")
    assert r.returncode == 2 and "never reaches the broker" in r.stderr


def test_a_board_cannot_take_the_operators_name(bourg, tmp_path: Path) -> None:
    cfg = json.loads(CONFIG.read_text())
    cfg["device_id"] = "ops"
    path = tmp_path / "ops.json"
    path.write_text(json.dumps(cfg))
    r = bourg("add", str(path))
    assert r.returncode == 1 and "is reserved" in r.stderr and "Traceback" not in r.stderr


def test_an_empty_file_becomes_a_private_registry_and_another_database_is_left_alone(
        tmp_path: Path) -> None:
    """`touch reg.sqlite` then `provision site`: the registry kept the touched file's 0644
    with the WiFi password and the CA key in it. A list on another program's SQLite
    database added bourg's tables to it."""
    import sqlite3

    wifi = tmp_path / "wifi.txt"
    wifi.write_text("street-wifi-secret\n")
    touched = tmp_path / "touched.sqlite"
    touched.touch(mode=0o644)
    r = _cli("provision", "site", "demo-town", "--ssid", "bourg-demo", "--wifi-password-file",
             str(wifi), "--registry", str(touched))
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(touched.stat().st_mode) == 0o600
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE notes (a)")
    _one_clear_line(_cli("provision", "list", "--registry", str(other)), 2,
                    "is not a bourg registry")
    with sqlite3.connect(other) as db:
        assert db.execute("SELECT name FROM sqlite_master").fetchall() == [("notes",)]


def test_secrets_written_to_a_directory_leave_no_copy_behind(tmp_path: Path) -> None:
    """--out naming a folder failed, but left the secrets in a .tmp file beside it."""
    from host_tools.field.provision import write_private

    folder = tmp_path / "out"
    folder.mkdir()
    with pytest.raises(IsADirectoryError, match="give a file name"):
        write_private(folder, '{"mqtt_password": "secret"}')
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"] and not any(folder.iterdir())
    write_private(folder / "s.json", "x")
    assert stat.S_IMODE((folder / "s.json").stat().st_mode) == 0o600
    assert [p.name for p in folder.iterdir()] == ["s.json"]
    import host_tools.field.provision as prov

    def refused(src: str, dst: object) -> None:
        raise PermissionError(13, "Permission denied", str(dst))

    real = prov.os.replace
    prov.os.replace = refused  # type: ignore[assignment]
    try:
        with pytest.raises(PermissionError):
            write_private(folder / "t.json", '{"mqtt_password": "secret"}')
    finally:
        prov.os.replace = real  # type: ignore[assignment]
    assert [p.name for p in folder.iterdir()] == ["s.json"]  # the temporary copy is gone
