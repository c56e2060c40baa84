"""What MQTT over TLS costs a board: two field-test boards on one real mosquitto, one plain and
one with TLS (the site's CA, its own certificate), each asked for its heap once connected.

- vm_gc_bytes: the MicroPython heap the TLS link holds on the 64-bit VM: bourg.mqtt_tls, the
  context with its certificates parsed into Python objects, the session's wrapper. Measured.
- chip_idf_bytes_estimate: what mbedTLS holds outside the MicroPython heap on the chip, where
  it allocates from the IDF heap (CONFIG_MBEDTLS_DEFAULT_MEM_ALLOC). Not measured: computed
  from the image's mbedTLS settings (ports/esp32/boards/sdkconfig.base, v1.28.0): a 16 KB
  input record buffer and a 4 KB output one (CONFIG_MBEDTLS_ASYMMETRIC_CONTENT_LEN), each
  with its record overhead, plus the parsed certificates (the CA, the board's, the broker's,
  kept) and the session's contexts. The unix VM's mbedTLS uses other buffer sizes and 64-bit
  structures, so its own malloc use says little about the chip's.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# mbedTLS record buffers: content length + header (13) + IV/MAC/padding expansion (~320 with
# CBC suites enabled); certificates: DER kept plus about 600 bytes of parsed fields each
IN_RECORD = 16384 + 13 + 320
OUT_RECORD = 4096 + 13 + 320
PER_CERT_PARSED = 600
SESSION_CONTEXTS = 2500  # ssl_context, session, transform, the two pk contexts (32-bit)
HANDSHAKE_PEAK = 6000  # ECDHE and ECDSA P-256 temporaries, freed after the handshake


def chip_idf_estimate(cert_der_sizes: list[int]) -> tuple[int, int]:
    """(steady, peak) bytes of IDF heap one TLS link holds on the chip."""
    certs = sum(n + PER_CERT_PARSED for n in cert_der_sizes)
    steady = IN_RECORD + OUT_RECORD + certs + SESSION_CONTEXTS
    return steady, steady + HANDSHAKE_PEAK


MQTT_HOST = "mqtt.bench.bourg"
WIFI = ("bourg-bench", "bench-wifi-pass")


def _config(name: str, port: int, tls: bool) -> dict[str, Any]:
    return {"schema": 1, "device_id": "bench-" + name, "role": "fieldtest", "site": "bench",
            "board": "esp32-devkitc", "pins": {"led": 25, "button": 4},
            "network": {"ssid": WIFI[0], "mqtt": {"host": MQTT_HOST, "port": port, "tls": tls}},
            "app": {"tick_ms": 60000, "telemetry_ms": 60000}}


def run() -> Iterator[dict[str, Any]]:
    from host_tools.build import firmware
    from host_tools.emulator import World
    from host_tools.field import site_ca
    from host_tools.field.mosquitto import Mosquitto, TlsFiles, device_user

    ca = site_ca.new_ca("bench")
    broker_pair = site_ca.issue(ca, "broker", server_names=(MQTT_HOST,), client=False)
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        tls = TlsFiles.write(root / "tls", ca, broker_pair)
        with Mosquitto(root / "mosquitto", tls=tls) as broker, \
                World(root / "world", access_points={WIFI[0]: WIFI[1]}) as w:
            assert broker.tls_port is not None
            w.dns[MQTT_HOST] = broker.host
            boards = {}
            pairs = {}
            for name, port, use_tls in (("plain", broker.port, False),
                                        ("tls", broker.tls_port, True)):
                cfg = _config(name, port, use_tls)
                user = device_user(cfg["device_id"])
                secrets = {"wifi_password": WIFI[1], "mqtt_user": user,
                           "mqtt_password": broker.add_device(cfg["site"], cfg["device_id"])}
                if use_tls:
                    pairs[name] = site_ca.issue(ca, user)
                    secrets.update(site_ca.board_secrets(ca, pairs[name]))
                boards[name] = w.add_board(cfg, firmware.stage(cfg, secrets))
                boards[name].start()
            used = {}
            for name, b in boards.items():
                b.wait_output(re.escape("mqtt: connected to " + MQTT_HOST), 30)
                used[name] = b.heap_report()["used"]
    ders = [len(ca.cert().public_bytes(_der())),
            len(pairs["tls"].cert().public_bytes(_der())),
            len(broker_pair.cert().public_bytes(_der()))]
    steady, peak = chip_idf_estimate(ders)
    yield {"bench": "tls_heap_bytes", "role": "every role with WiFi (one link each)",
           "vm_gc_bytes": used["tls"] - used["plain"], "vm": "unix 64-bit",
           "chip_idf_bytes_estimate": steady, "chip_idf_peak_bytes_estimate": peak,
           "cert_der_bytes": ders, "measured": "vm_gc_bytes only"}


def _der() -> Any:
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.DER
