"""What MQTT over TLS costs a board of each role that reaches the broker: two boards of the
role's shipped config on one real mosquitto, one plain and one with TLS (the site's CA, its
own certificate), each asked for its heap once connected and its clock set.

- vm_gc_bytes: the MicroPython heap the TLS link holds on the 64-bit VM: bourg.mqtt_tls, the
  context with its certificates parsed into Python objects, the session's wrapper. Measured;
  it includes the VM's table of names, which doubles at some count (the locker's does).
- chip_gc_bytes_estimate, chip_gc_with_tls_after_boot: the same boards estimated on the chip
  as chip_heap_bytes does (host_tools.bench.chip_heap), the difference and the TLS board.
- chip_idf_bytes_estimate: what mbedTLS holds outside the MicroPython heap on the chip, where
  it allocates from the IDF heap (CONFIG_MBEDTLS_DEFAULT_MEM_ALLOC). Not measured: computed
  from the image's mbedTLS settings (ports/esp32/boards/sdkconfig.base, v1.28.0): a 16 KB
  input record buffer and a 4 KB output one (CONFIG_MBEDTLS_ASYMMETRIC_CONTENT_LEN), each
  with its record overhead, plus the parsed certificates (the CA, the board's, the broker's,
  kept) and the session's contexts. The unix VM's mbedTLS uses other buffer sizes and 64-bit
  structures, so its own malloc use says little about the chip's.
"""

from __future__ import annotations

import json
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


WIFI = ("bourg-bench", "bench-wifi-pass")
KEY = bytes(range(32)).hex()  # bench-only app keys
# one shipped config per role that reaches the broker (a parking sensor speaks ESP-NOW only)
CONFIGS = ("fieldtest-01.json", "pole-01.json", "locker-01.json", "totem-01.json")


def _role_secrets(cfg: dict[str, Any]) -> dict[str, Any]:
    role = cfg["role"]
    if role == "lighting":
        return {"wave_key": KEY}
    if role == "locker":
        return {"bank_key": KEY}
    if role == "parking_totem":
        return {"node_keys": {b["device"]: KEY[:32] for b in cfg["app"]["bays"]}}
    return {}


def _variant(cfg: dict[str, Any], name: str, port: int, tls: bool) -> dict[str, Any]:
    c = json.loads(json.dumps(cfg))
    c["device_id"] = f"{cfg['device_id']}-{name}"
    c["network"]["ssid"] = WIFI[0]
    c["network"]["mqtt"].update(port=port, tls=tls)
    return c


def run() -> Iterator[dict[str, Any]]:
    from host_tools.bench import chip_heap
    from host_tools.build import firmware
    from host_tools.emulator import World
    from host_tools.field import site_ca
    from host_tools.field.mosquitto import Mosquitto, TlsFiles, device_user
    from host_tools.testing.rigs import by_role

    shipped = [json.loads((firmware.REPO / "board_configs" / n).read_text()) for n in CONFIGS]
    hosts = tuple(sorted({c["network"]["mqtt"]["host"] for c in shipped}))
    ca = site_ca.new_ca("bench")
    broker_pair = site_ca.issue(ca, "broker", server_names=hosts, client=False)
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        tls = TlsFiles.write(root / "tls", ca, broker_pair)
        with Mosquitto(root / "mosquitto", tls=tls) as broker, \
                World(root / "world", access_points={WIFI[0]: WIFI[1]}) as w:
            assert broker.tls_port is not None
            for h in hosts:
                w.dns[h] = broker.host
            ders = [len(ca.cert().public_bytes(_der())),
                    len(broker_pair.cert().public_bytes(_der()))]
            emu = chip_heap.emulator_share(w)
            for cfg in shipped:
                used, chip = {}, {}
                for name, port, use_tls in (("plain", broker.port, False),
                                            ("tls", broker.tls_port, True)):
                    c = _variant(cfg, name, port, use_tls)
                    user = device_user(c["device_id"])
                    secrets = {"wifi_password": WIFI[1], "mqtt_user": user,
                               "mqtt_password": broker.add_device(c["site"], c["device_id"]),
                               **_role_secrets(c)}
                    if use_tls:
                        pair = site_ca.issue(ca, user)
                        secrets.update(site_ca.board_secrets(ca, pair))
                    files = firmware.stage(c, secrets)
                    b = w.add_board(c, files)
                    by_role.attach(b, c)
                    b.start()
                    # the same state on both: TLS waits for NTP, so plain waits for it too
                    b.wait_output(re.escape("mqtt: connected to "), 30)
                    b.wait_output("NTP sync ok", 30)
                    b.wait_output(r"heap alloc \d+", 30)
                    rep = b.heap_report(timeout=20)
                    used[name] = rep["used"]
                    chip[name] = chip_heap.estimate(rep, chip_heap.boot_share(b), emu).chip_bytes
                    b.stop()
                steady, peak = chip_idf_estimate(ders + [ders[0] + 100])  # + the board's own
                yield {"bench": "tls_heap_bytes", "role": cfg["role"], "config": cfg["device_id"],
                       "vm_gc_bytes": used["tls"] - used["plain"], "vm": "unix 64-bit",
                       "chip_gc_bytes_estimate": chip["tls"] - chip["plain"],
                       "chip_gc_with_tls_after_boot": chip["tls"],
                       "chip_idf_bytes_estimate": steady, "chip_idf_peak_bytes_estimate": peak,
                       "measured": "vm_gc_bytes (the VM's qstr pools included: one more "
                                   "doubling can add 14 KB); chip figures estimated as "
                                   "chip_heap_bytes does"}


def _der() -> Any:
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.DER
