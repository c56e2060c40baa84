"""How long `bourg update` takes on a street of 12 virtual poles and a real mosquitto, in the
waves the command uses (1, 2, 4, 5), from the first manifest sent to the last pole's `ok`.

Two releases, because what goes over the air decides the time:
- version: the usual release, where only the stamped version differs (bourg/__init__.mpy);
  every other file is copied from the running app on the board.
- every_file: every module compiled anew (another source name in each .mpy), so every file
  goes over the air in 1 KB chunks: the worst case, as after a MicroPython upgrade.

The poles speak plain MQTT to the broker here (TLS adds one handshake per reboot). The virtual
board's flash and CPU are the host's: on the chip, writing and hashing the files is slower,
so these figures are a floor for the chip, not an estimate of it.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

POLES = 12
SITE_KEY = "00112233445566778899aabbccddeeff"  # bench-only site update key


def _every_file_changed(release: Any) -> Any:
    """The same app with every module compiled under another source name: new bytes for
    every file, the same code."""
    from host_tools.build import firmware, mpy
    from host_tools.field import ota

    files = dict(release.files)
    for path in files:
        if not path.endswith(".mpy"):
            continue
        rel = path[1:-4] + ".py"
        if path == "/lib/bourg/__init__.mpy":
            src = firmware.stamped_init(release.version)
        elif path == "/lib/umqtt_pinned.mpy":
            src = mpy.UMQTT_SOURCE
        elif rel.startswith("lib/"):
            src = firmware.LIB / rel[4:]
        else:
            src = firmware.app_dir(release.role) / rel
        files[path] = mpy.compile_file(Path(src), source_name="r/" + Path(rel).name,
                                       march="xtensawin").read_bytes()
    return ota.Release(release.role, release.version, files)


def _rollout(broker: Any, world: Any, release: Any, ids: list[str]) -> dict[str, Any]:
    from host_tools.field import ota
    from host_tools.field.mqtt_watch import Watcher
    from host_tools.field.registry import board_update_key

    def factory(on_message: Any, topics: tuple[str, ...]) -> Watcher:
        return Watcher(broker.host, broker.port, topics=topics, user=broker.ops_user,
                       password=broker.ops_password, client_id="bench-update",
                       on_message=on_message)

    boards = {d: ota.BoardUpdate(d, board_update_key(SITE_KEY, d)) for d in ids}
    done_at: dict[str, float] = {}
    r = ota.Rollout(factory, "bench", release, boards, health_s=120,
                    on_change=lambda b: done_at.setdefault(b.device_id, time.perf_counter())
                    if b.state == "ok" else None)
    r.start()
    try:
        t0 = time.perf_counter()
        ok = r.run(canary=1, wave_timeout_s=600)
        wall = time.perf_counter() - t0
    finally:
        r.close()
    waves = [round(max(done_at.get(d, t0) for d in w) - t0, 1) for w in ota.waves(ids)]
    fetched = [b.fetched for b in boards.values()]
    return {"ok": ok, "not_ok": {d: f"{b.state}: {b.detail}" for d, b in boards.items()
                                 if b.state != "ok"},
            "wall_s": round(wall, 1), "waves_done_at_s": waves,
            "per_pole_s": round(wall / len(ids), 2),
            "fetched_bytes_per_pole": max(fetched),
            "release_files": len(release.files),
            "release_bytes": sum(len(v) for v in release.files.values())}


def run() -> Iterator[dict[str, Any]]:
    from host_tools.field import ota
    from host_tools.field.mosquitto import Mosquitto
    from host_tools.field.registry import board_update_key
    from host_tools.testing.rigs import street

    with tempfile.TemporaryDirectory() as d, Mosquitto(Path(d) / "mosquitto") as broker:
        for version, name in (("0.2.0", "version"), ("0.3.0", "every_file")):
            # a fresh street for each release: every pole starts on the factory app
            with street.street_world(Path(d) / name) as world:
                ids = [f"pole-{i:02d}" for i in range(1, POLES + 1)]
                poles = [street.add_pole(world, street.pole_config(
                    p, street.SPACING_M * i, site="bench", port=broker.port), broker,
                    update_key=board_update_key(SITE_KEY, p)) for i, p in enumerate(ids)]
                for p in poles:
                    p.board.start()
                for p in poles:
                    p.board.wait_output("mqtt: connected", 60)
                release = ota.build_release("lighting", version)
                if name == "every_file":
                    release = _every_file_changed(release)
                yield {"bench": "ota_update_street", "poles": POLES, "release": name,
                       "waves": [len(w) for w in ota.waves(ids)],
                       **_rollout(broker, world, release, ids),
                       "transport": "MQTT (plain) on a real mosquitto, 1 KB chunks"}
