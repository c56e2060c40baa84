"""MQTT over TLS with the site's CA: virtual boards and a real mosquitto with a TLS listener.

The board checks the broker's certificate against its site's CA and the host name in its
config; the broker takes only boards with a certificate from that CA and applies the ACL to
the user the certificate names.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hil_tests.fleet import MQTT_HOST, WIFI, add_board, fieldtest_config
from host_tools.build import firmware
from host_tools.emulator import Board, World
from host_tools.field import site_ca
from host_tools.field.mosquitto import OPS_USER, Mosquitto, TlsFiles, device_user
from host_tools.field.mqtt_watch import Watcher

SITE_CA = site_ca.new_ca("hil")
OTHER_CA = site_ca.new_ca("elsewhere")


def _broker(tmp_path: Path, ca: site_ca.KeyPair, revoked: list[int] | None = None) -> Mosquitto:
    """The site's broker, known to the boards as MQTT_HOST and to the operators' tools on
    this machine as 127.0.0.1: its certificate names both."""
    broker_pair = site_ca.issue(ca, "broker", server_names=(MQTT_HOST, "127.0.0.1"),
                                client=False)
    return Mosquitto(tmp_path / "mosquitto", tls=TlsFiles.write(tmp_path / "tls", ca,
                                                                 broker_pair, revoked))


def _impostor(tmp_path: Path) -> Mosquitto:
    """A broker on the board's network under the broker's name, with a certificate for that
    name from another CA, that would take the board with its password: only the board's own
    check of the certificate keeps it out."""
    pair = site_ca.issue(OTHER_CA, "broker", server_names=(MQTT_HOST,), client=False)
    files = TlsFiles.write(tmp_path / "tls", OTHER_CA, pair)
    files.require_client_cert = False
    return Mosquitto(tmp_path / "mosquitto", tls=files)


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    with _broker(tmp_path, SITE_CA) as broker:
        yield broker


def _tls_board(world: World, broker: Mosquitto, device_id: str, *,
               trusts: site_ca.KeyPair = SITE_CA, signed_by: site_ca.KeyPair = SITE_CA,
               pair: site_ca.KeyPair | None = None, tick_ms: Any = 1000,
               **override: str) -> Board:
    """A field-test board set for TLS: it trusts `trusts` and holds `pair`, else a
    certificate that `signed_by` issued for its MQTT user."""
    assert broker.tls_port is not None
    cfg: dict[str, Any] = fieldtest_config(device_id, port=broker.tls_port, tick_ms=tick_ms)
    del cfg["network"]["mqtt"]["tls"]  # the default: TLS
    world.dns[MQTT_HOST] = broker.host
    user = device_user(device_id)
    secrets = {"wifi_password": WIFI[1], "mqtt_user": user,
               "mqtt_password": broker.add_device(cfg["site"], device_id),
               **site_ca.board_secrets(trusts, pair or site_ca.issue(signed_by, user)),
               **override}
    return world.add_board(cfg, firmware.stage(cfg, secrets))


def _ops(broker: Mosquitto) -> Watcher:
    return Watcher(broker.host, broker.port, user=broker.ops_user,
                   password=broker.ops_password)


def _broker_log(broker: Mosquitto) -> str:
    return (broker.dir / "mosquitto.log").read_text()


def test_board_connects_over_tls_once_its_clock_is_set(world: World,
                                                        tls_broker: Mosquitto) -> None:
    ops = _ops(tls_broker)
    try:
        b = _tls_board(world, tls_broker, "ft-tls")
        b.start()
        ops.wait_for(lambda ms: any(m.topic == "bourg/hil/ft-tls/status" and
                                    m.payload == b"online" for m in ms), 20)
        ops.wait_for(lambda ms: any(m.topic == "bourg/hil/ft-tls/events/tick" for m in ms), 10)
    finally:
        ops.close()
    out = b.output_text()
    # the RTC starts at 2000 after a power cut: no handshake before NTP has set it
    assert out.index("NTP sync ok") < out.index("mqtt: connected to " + MQTT_HOST)
    log = _broker_log(tls_broker)
    assert re.search(rf"on port {tls_broker.tls_port}.*\n.*as ft-tls .*u'bourg-ft-tls'", log), \
        "the broker did not take the board's user from its certificate on the TLS listener"


def test_safe_mode_reports_over_tls_once_ntp_has_set_the_clock(world: World,
                                                              tls_broker: Mosquitto) -> None:
    """A bad config after a power cut: safe mode has no app clock, so it runs NTP itself
    before its report can pass the TLS handshake."""
    ops = _ops(tls_broker)
    try:
        b = _tls_board(world, tls_broker, "ft-tls-bad", tick_ms="fast")
        b.start()
        b.wait_output("SAFE MODE", 10)
        ops.wait_for(lambda ms: any(m.topic == "bourg/hil/ft-tls-bad/state" and
                                    b'"safe"' in m.payload for m in ms), 20)
    finally:
        ops.close()


def test_board_refuses_a_broker_whose_certificate_another_ca_signed(
        world: World, tmp_path: Path) -> None:
    with _impostor(tmp_path) as impostor:
        b = _tls_board(world, impostor, "ft-tls-mitm")
        b.start()
        b.wait_output(r"mqtt: connect to mqtt\.hil\.bourg failed", 20)
        b.wait_output(r"mqtt: connect to mqtt\.hil\.bourg failed", 20,
                      start=b.console_mark())  # and again, with backoff: never connected
        assert "mqtt: connected" not in b.output_text()
        assert "as ft-tls-mitm" not in _broker_log(impostor)


def test_broker_refuses_a_board_whose_certificate_another_ca_signed(
        world: World, tls_broker: Mosquitto) -> None:
    b = _tls_board(world, tls_broker, "ft-tls-forged", signed_by=OTHER_CA)
    b.start()
    b.wait_output(r"mqtt: connect to mqtt\.hil\.bourg failed", 20)
    assert "mqtt: connected" not in b.output_text()
    assert "as ft-tls-forged" not in _broker_log(tls_broker)


def test_broker_refuses_a_revoked_certificate(world: World, tmp_path: Path) -> None:
    """A stolen board's certificate, rotated away (bourg provision rotate --key tls): the
    CA signed it and it has years to run, but the broker's CRL names it."""
    stolen = site_ca.issue(SITE_CA, device_user("ft-tls-stolen"))
    with _broker(tmp_path, SITE_CA, revoked=[stolen.cert().serial_number]) as broker:
        b = _tls_board(world, broker, "ft-tls-stolen", pair=stolen)
        b.start()
        b.wait_output(r"mqtt: connect to mqtt\.hil\.bourg failed", 20)
        assert "mqtt: connected" not in b.output_text()
        assert "as ft-tls-stolen" not in _broker_log(broker)


def test_monitor_watches_over_tls_with_the_operators_certificate(
        world: World, tls_broker: Mosquitto, tmp_path: Path) -> None:
    ops = site_ca.issue(SITE_CA, OPS_USER)
    files = {"ca": SITE_CA.cert_pem, "cert": ops.cert_pem, "key": ops.key_pem}
    for name, pem in files.items():
        (tmp_path / f"{name}.pem").write_text(pem)
    assert tls_broker.tls_port is not None
    args = [sys.executable, "-m", "host_tools.cli", "monitor", "--broker",
            f"mqtts://127.0.0.1:{tls_broker.tls_port}", "--site", "hil", "--json",
            *[a for n in files for a in (f"--{n}", str(tmp_path / f"{n}.pem"))]]
    mon = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert mon.stderr is not None
    first = mon.stderr.readline()
    assert "watching bourg/hil/#" in first, first + mon.stderr.read()
    b = _tls_board(world, tls_broker, "ft-tls-mon")
    b.start()
    # the monitor runs until told: stop it once the board has spoken after its `online`
    # (a reply to a command, which the broker hands to every subscriber after the status)
    w = _ops(tls_broker)
    try:
        w.wait_for(lambda ms: any(m.topic == "bourg/hil/ft-tls-mon/status" and
                                  m.payload == b"online" for m in ms), 60)
        w.publish("bourg/hil/ft-tls-mon/cmd/status", b"{}")
        w.wait_for(lambda ms: any(m.topic.endswith("ft-tls-mon/reply/status") for m in ms),
                   30)
    finally:
        w.close()
    mon.send_signal(signal.SIGINT)
    out, err = mon.communicate(timeout=60)
    assert mon.returncode == 0, err
    assert json.loads(out)["ft-tls-mon"]["status"] == "online"


def test_monitor_says_what_mqtts_needs(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "host_tools.cli", "monitor", "--broker",
                        "mqtts://127.0.0.1", "--site", "hil", "--ca", str(tmp_path / "nope")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "needs --cert --key too" in r.stderr
    r = subprocess.run([sys.executable, "-m", "host_tools.cli", "monitor", "--broker",
                        "mqtts://127.0.0.1", "--site", "hil", *[a for n in ("ca", "cert", "key")
                                                             for a in (f"--{n}",
                                                                       str(tmp_path / "nope"))]],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "cannot use the TLS files" in r.stderr
    assert "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "host_tools.cli", "monitor", "--broker",
                        "mqtt://127.0.0.1:1883", "--site", "hil", "--ca", "ca.crt"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "use mqtts://127.0.0.1:1883" in r.stderr  # never plain


def test_nobody_on_the_boards_network_reads_its_traffic(world: World,
                                                        tls_broker: Mosquitto) -> None:
    """What a laptop on the street's WiFi captures: from a board with a config that says
    nothing about TLS, neither its MQTT password nor a topic; from a lab board (`tls`:
    false) both, which shows the capture works."""
    ops = _ops(tls_broker)
    try:
        secure = _tls_board(world, tls_broker, "ft-sniff-tls")
        lab = add_board(world, tls_broker, fieldtest_config("ft-sniff-lab",
                                                            port=tls_broker.port))
        for b in (secure, lab):
            b.start()
        for name in ("ft-sniff-tls", "ft-sniff-lab"):
            ops.wait_for(lambda ms, n=name: any(m.topic == f"bourg/hil/{n}/events/tick"
                                                for m in ms), 30)
    finally:
        ops.close()
    seen = secure.link.sniffed()
    password = tls_broker.password(device_user("ft-sniff-tls")).encode()
    assert len(seen) > 1000  # the handshake and the traffic went through the link
    assert password not in seen and b"bourg/hil" not in seen and b"MQTT" not in seen
    clear = lab.link.sniffed()
    assert tls_broker.password(device_user("ft-sniff-lab")).encode() in clear
    assert b"bourg/hil/ft-sniff-lab" in clear


@pytest.mark.emulator_only
def test_keys_the_board_cannot_load_are_logged_not_a_reboot_loop(world: World,
                                                                 tls_broker: Mosquitto) -> None:
    """Base64 that is not a certificate passes the format check; mbedTLS refuses it at the
    first connection: the board says so and keeps running its app (no reboot every 5 s)."""
    b = _tls_board(world, tls_broker, "ft-tls-junk", tls_cert="AAAA")
    b.start()
    b.wait_output(r"mqtt: TLS keys unusable", 30)
    b.wait_output(r"mqtt: TLS keys unusable", 30, start=b.console_mark())  # retried
    assert b.history == ["PWRON_RESET"]
    assert "app-ready" in b.output_text()
