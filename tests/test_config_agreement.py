"""Host and board agree on every config: `bourg config validate` (CPython) and the board's
boot-time `config.load` on the real MicroPython VM give the same verdict, key path and reason
for mutations of the shipped configs (keys deleted, renamed or added, values and pins changed).

Why on the VM: the host runs the firmware's own files, so agreement on CPython would hold by
construction; MicroPython's json, dicts and numbers are where the two could still part."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from host_tools.field.boardconfig import APP_SCHEMAS, BoardConfigError, validate, validate_secrets
from host_tools.testing.tls_secrets import board_tls

REPO = Path(__file__).resolve().parents[1]
MICROPYTHON = Path(sys.executable).parent / "micropython"
SHIPPED = {p.stem: json.loads(p.read_text())
           for p in sorted((REPO / "board_configs").glob("*-*.json"))}
pytestmark = pytest.mark.skipif(not MICROPYTHON.exists(), reason="micropython not installed")

# The board's side: what runtime.main / sensor_app.main do at boot, for each case in turn.
BOARD_SCRIPT = r'''
import json, sys
from bourg import config
with open(sys.argv[1]) as f:
    cases = json.load(f)
for case in cases:
    with open("config.json", "w") as f:
        f.write(case["text"])
    with open("secrets.json", "w") as f:
        f.write(case["secrets"])
    try:
        config.load(".", schema_module=case["module"])
        print(json.dumps(["ok"]))
    except config.ConfigError as e:
        print(json.dumps(["error", e.path, e.reason]))
    # the checker and schema are dropped after each check, as at boot
    assert "bourg.configcheck" not in sys.modules and case["module"] not in sys.modules
'''


def _paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path of a JSON tree (dict keys and list indexes)."""
    out = []
    items = obj.items() if isinstance(obj, dict) else \
        enumerate(obj) if isinstance(obj, list) else ()
    for k, v in items:
        out.append(prefix + (k,))
        out.extend(_paths(v, prefix + (k,)))
    return out


def _parent(cfg: Any, path: tuple) -> Any:
    for k in path[:-1]:
        cfg = cfg[k]
    return cfg


VALUES = st.one_of(st.integers(-3, 70000), st.integers(0, 45),
                   st.integers(-400, 4000).map(lambda x: x / 4), st.booleans(), st.none(),
                   st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=6),
                   st.sampled_from([[], {}, "sunset", "23:00", "A01", "esp32", "locker"]))


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """(original role, a shipped config after 0-3 mutations)."""
    name = draw(st.sampled_from(sorted(SHIPPED)))
    cfg = json.loads(json.dumps(SHIPPED[name]))
    for _ in range(draw(st.integers(0, 3))):
        paths = _paths(cfg)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = _parent(cfg, path), path[-1]
        op = draw(st.sampled_from(["delete", "rename", "value", "pin", "add"]))
        if op == "delete":
            del parent[key]
        elif op == "rename" and isinstance(parent, dict):
            parent[draw(st.sampled_from([key[:-1], key + "s", key.upper(), "pri"]))] = \
                parent.pop(key)
        elif op == "pin":  # another GPIO for a value that is one, or a new pin name
            if isinstance(parent.get("pins") if isinstance(parent, dict) else None, dict):
                parent["pins"][draw(st.sampled_from(["pir2", "door", "led", "x"]))] = \
                    draw(st.integers(0, 40))
            elif isinstance(parent[key], int):
                parent[key] = draw(st.integers(0, 40))
        elif op == "add" and isinstance(parent[key], dict):
            parent[key][draw(st.sampled_from(["extra", "pir2", "ldr_adc", "buzzer"]))] = \
                draw(VALUES)
        else:
            parent[key] = draw(VALUES)
    return SHIPPED[name]["role"], cfg


def _secrets(cfg: dict[str, Any], drop_a_key: bool = False) -> dict[str, Any]:
    """Every role's keys, valid (secrets.json allows keys another role needs), and a sensor
    key for every bay the config names, but the last one's when `drop_a_key` (the totem's
    check across the two files)."""
    app = cfg.get("app")
    bays = app.get("bays") if isinstance(app, dict) else None
    devices = [b["device"] for b in bays if isinstance(b, dict)
               and isinstance(b.get("device"), str)] if isinstance(bays, list) else []
    if drop_a_key:
        devices = devices[:-1]
    device = cfg.get("device_id")
    # the host also checks what the board finds only at its first TLS connection (that the
    # certificate chains and names the board): real keys, so both judge the rest alike
    tls = board_tls(device) if isinstance(device, str) and 0 < len(device) <= 40 \
        else {"tls_ca": "AAAA", "tls_cert": "AAAA", "tls_key": "AAAA"}
    return {"wifi_password": "x", "wave_key": "ab" * 16, "bank_key": "cd" * 32,
            "espnow_key": "ef" * 16, "node_keys": dict.fromkeys(devices, "01" * 16), **tls}


def _host(cfg: dict[str, Any], secrets: dict[str, Any]) -> list:
    try:
        validate(cfg, "config.json")
        validate_secrets(cfg, secrets)
    except BoardConfigError as e:
        return ["error", *e.problems[0]]
    return ["ok"]


def _board(cases: list[dict[str, str]], tmp: Path) -> list[list]:
    (tmp / "cases.json").write_text(json.dumps(cases))
    (tmp / "board.py").write_text(BOARD_SCRIPT)
    fw = REPO / "firmware"
    path = [fw / "lib", fw / "lighting", fw / "locker", fw / "parking_sensor", fw / "fieldtest"]
    env = dict(os.environ, MICROPYPATH=":".join(str(p) for p in path) + ":.frozen")
    r = subprocess.run([str(MICROPYTHON), "-X", "heapsize=1m", "board.py", "cases.json"],
                       cwd=tmp, env=env, capture_output=True, text=True, timeout=120,
                       check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    return [json.loads(line) for line in r.stdout.splitlines()]


SEEN = {"ok": 0, "error": 0}


def _known_role(cfg: dict[str, Any]) -> bool:
    role = cfg.get("role")
    return isinstance(role, str) and role in APP_SCHEMAS


EXAMPLES = int(os.environ.get("BOURG_AGREE_EXAMPLES", "6"))  # batches of 50 configs


@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(mutated(), min_size=50, max_size=50),
       st.lists(st.booleans(), min_size=50, max_size=50))
def test_host_and_board_give_the_same_verdict(tmp_path_factory: pytest.TempPathFactory,
                                              batch: list[tuple[str, dict[str, Any]]],
                                              drops: list[bool]) -> None:
    cases, hosts = [], []
    for (role, cfg), drop in zip(batch, drops, strict=True):
        # deploy installs the app of the config's role; an unknown role leaves the board's
        module = APP_SCHEMAS[cfg["role"] if _known_role(cfg) else role][1]
        secrets = _secrets(cfg, drop)
        cases.append({"module": module, "text": json.dumps(cfg),
                      "secrets": json.dumps(secrets)})
        hosts.append(_host(cfg, secrets))
    boards = _board(cases, tmp_path_factory.mktemp("agree"))
    assert len(boards) == len(hosts)
    for (role, cfg), host, board in zip(batch, hosts, boards, strict=True):
        SEEN[host[0]] += 1
        if not _known_role(cfg):  # the board's own app may fail on another key first
            assert host[0] == board[0] == "error", (cfg, host, board)
        else:
            assert host == board, (role, cfg)


def test_the_shipped_configs_pass_on_both(tmp_path: Path) -> None:
    """The agreement test's baseline: every shipped config is `ok` on the host and the VM."""
    cases = [{"module": APP_SCHEMAS[c["role"]][1], "text": json.dumps(c),
              "secrets": json.dumps(_secrets(c))} for c in SHIPPED.values()]
    assert _board(cases, tmp_path) == [["ok"]] * len(SHIPPED)
    assert [_host(c, _secrets(c)) for c in SHIPPED.values()] == [["ok"]] * len(SHIPPED)


def test_several_unknown_keys_give_the_same_first_error_on_both(tmp_path: Path) -> None:
    """The first of several unknown keys is the first in sorted order on both sides: a
    MicroPython dict keeps no insertion order, so a checker that reported keys in dict order
    named another key on the board than on the host (hypothesis found it in a pole's profile,
    `ds` and `period`)."""
    pole = SHIPPED["pole-01"]
    cases, hosts = [], []
    for where in ("profile", "period", "lux"):
        cfg = json.loads(json.dumps(pole))
        prof = cfg["app"]["profile"]
        target = {"profile": prof, "period": prof["periods"][0],
                  "lux": prof.setdefault("lux", {"on_below": 20, "off_above": 50})}[where]
        for k in ("zz_late", "mm_middle", "aa_early", "qq_other"):  # not in sorted order
            target[k] = 1
        secrets = _secrets(cfg)
        cases.append({"module": APP_SCHEMAS["lighting"][1], "text": json.dumps(cfg),
                      "secrets": json.dumps(secrets)})
        hosts.append(_host(cfg, secrets))
    boards = _board(cases, tmp_path)
    for host, board in zip(hosts, boards, strict=True):
        assert host[0] == "error" and host[2].startswith(("aa_early", "periods[0].aa_early",
                                                          "lux.aa_early")), host
        assert host == board
