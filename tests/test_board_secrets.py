"""host_tools.field.board_secrets: which secrets a board gets, the one policy of `bourg deploy`
and `bourg emulate`, called with plain arguments as the commands call it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from host_tools.field import board_secrets, site_ca
from host_tools.field.boardconfig import BoardConfigError, validate_secrets
from host_tools.field.boardid import BoardIdentity
from host_tools.field.registry import Registry
from host_tools.testing.tls_secrets import board_tls

REPO = Path(__file__).resolve().parents[1]
CONFIG_PATH = REPO / "board_configs" / "fieldtest-01.json"


@pytest.fixture
def config() -> dict[str, Any]:
    return json.loads(CONFIG_PATH.read_text())


@pytest.fixture(autouse=True)
def no_env_registry(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No $BOURG_REGISTRY, and the default registry/ path is under tmp_path."""
    monkeypatch.delenv("BOURG_REGISTRY", raising=False)
    monkeypatch.chdir(tmp_path)


def _registry(path: Path, config: dict[str, Any], *, wifi: bool = True) -> Path:
    with Registry(path) as reg:
        if wifi:
            reg.set_site(config["site"], "bourg-test", "site-wifi-pw")
        reg.add(config["device_id"], config["role"], config["site"])
    return path


def test_secrets_without_wifi_hint_at_provision_site(config: dict[str, Any],
                                                     tmp_path: Path) -> None:
    """A site with no WiFi in the registry gives secrets without wifi_password: the board's
    words, then the command that fixes it."""
    reg_path = _registry(tmp_path / "r.sqlite", config, wifi=False)
    with pytest.raises(board_secrets.SecretsRefused) as e:
        board_secrets.for_deploy(config, CONFIG_PATH, None, reg_path)
    msg = str(e.value)
    assert msg.startswith("secrets.json: wifi_password: missing"), msg
    assert f"bourg provision site {config['site']} --ssid" in msg
    assert isinstance(e.value, BoardConfigError) and e.value.problems[0][0] == "wifi_password"


def test_a_secrets_file_without_wifi_gets_no_registry_hint(config: dict[str, Any],
                                                          tmp_path: Path) -> None:
    """`bourg provision site` fills the registry, not a file the technician wrote: the file
    is refused with the board's words alone."""
    path = tmp_path / "s.json"
    path.write_text("{}")
    with pytest.raises(BoardConfigError) as e:
        board_secrets.read_file(path, config)
    assert not isinstance(e.value, board_secrets.SecretsRefused)
    assert e.value.problems[0][0] == "wifi_password" and "provision site" not in str(e.value)


def test_another_refusal_has_no_hint(config: dict[str, Any]) -> None:
    with pytest.raises(BoardConfigError) as e:
        validate_secrets(config, {"wifi_password": 12})
    assert not isinstance(e.value, board_secrets.SecretsRefused)


@pytest.mark.parametrize("text, words", [(None, "cannot read --secrets"),
                                         ("{", "is not JSON"),
                                         ("[]", "expected a JSON object")])
def test_a_secrets_file_that_cannot_be_used_is_bad_input(config: dict[str, Any], tmp_path: Path,
                                                         text: str | None, words: str) -> None:
    path = tmp_path / "s.json"
    if text is not None:
        path.write_text(text)
    with pytest.raises(board_secrets.SecretsInputError, match=words):
        board_secrets.read_file(path, config)


def test_deploy_without_a_registry_keeps_the_board_s_secrets(config: dict[str, Any]) -> None:
    chosen = board_secrets.for_deploy(config, CONFIG_PATH, None, None)
    assert chosen.secrets is None and chosen.registry is None
    assert chosen.registry_path == Path("registry") / "bourg-registry.sqlite"
    blank = BoardIdentity("240ac4ffffff", None, has_secrets=False)
    with pytest.raises(board_secrets.NoSecrets, match="no /secrets.json"):
        board_secrets.require_secrets_on(blank, chosen, "/dev/x", config["device_id"])
    board_secrets.require_secrets_on(BoardIdentity("240ac4ffffff", None, has_secrets=True),
                                     chosen, "/dev/x", config["device_id"])


def test_deploy_refuses_a_named_missing_registry_and_an_unknown_device(
        config: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(board_secrets.SecretsInputError, match="no registry at"):
        board_secrets.for_deploy(config, CONFIG_PATH, None, tmp_path / "none.sqlite")
    other = tmp_path / "other.sqlite"
    Registry(other).close()
    with pytest.raises(board_secrets.SecretsInputError,
                       match=f"not in the registry {other}; run `bourg provision add"):
        board_secrets.for_deploy(config, CONFIG_PATH, None, other)


TLS = board_tls("fieldtest-01")


def test_deploy_takes_the_registry_s_secrets_or_the_file_s(config: dict[str, Any],
                                                           tmp_path: Path) -> None:
    reg_path = _registry(tmp_path / "r.sqlite", config)
    with board_secrets.for_deploy(config, CONFIG_PATH, None, reg_path) as chosen:
        assert chosen.secrets is not None and chosen.secrets["wifi_password"] == "site-wifi-pw"
        assert chosen.registry is not None  # kept open for the identity check
        reg = chosen.registry
    with pytest.raises(sqlite3.ProgrammingError):  # closed on leaving `with`
        reg.db.execute("SELECT 1")
    f = tmp_path / "s.json"
    f.write_text(json.dumps({"wifi_password": "from-file", **TLS}))
    with board_secrets.for_deploy(config, CONFIG_PATH, f, reg_path) as chosen:
        assert chosen.secrets == {"wifi_password": "from-file", **TLS}


def test_emulate_uses_the_same_policy_with_its_own_fallback(config: dict[str, Any],
                                                            tmp_path: Path) -> None:
    """Registry secrets are checked as deploy checks them (the board would refuse them, with
    the hint); an unregistered board gets dev secrets, said in a caveat; a named registry
    must know the board."""
    from host_tools.testing.emulate import (
        BoardWouldRefuse,
        Note,
        UnusableInput,
        secrets_for,
        site_wifi,
    )

    notes: list[Note] = []
    bare = _registry(tmp_path / "bare.sqlite", config, wifi=False)
    with pytest.raises(BoardWouldRefuse, match="bourg provision site"):
        secrets_for(config, None, bare, notes.append)
    assert secrets_for(config, None, None, notes.append)["wifi_password"]  # dev secrets
    assert [n.caveat for n in notes] == [True] and "throwaway dev secrets" in notes[0].text
    empty = tmp_path / "empty.sqlite"
    Registry(empty).close()
    with pytest.raises(UnusableInput, match="leave the registry out for dev secrets"):
        secrets_for(config, None, empty, notes.append)
    good = _registry(tmp_path / "good.sqlite", config)
    assert secrets_for(config, None, good, notes.append)["wifi_password"] == "site-wifi-pw"
    assert notes[-1] == Note(f"the board's secrets come from the registry {good}")
    assert site_wifi(good, config["site"]) == "site-wifi-pw"
    assert site_wifi(tmp_path / "none.sqlite", config["site"]) is None


def test_the_host_refuses_tls_without_its_keys_as_the_board_does(config: dict[str, Any]) -> None:
    """TLS is the default: a config that does not say `tls: false` needs the three keys."""
    with pytest.raises(BoardConfigError) as e:
        validate_secrets(config, {"wifi_password": "w", "tls_ca": "AAAA", "tls_cert": "AAAA"})
    assert e.value.problems == [("tls_key", "missing (required with network.mqtt.tls)")]
    lab = json.loads(json.dumps(config))
    lab["network"]["mqtt"]["tls"] = False
    validate_secrets(lab, {"wifi_password": "w"})  # plain MQTT, said in so many words


@pytest.mark.parametrize("change, key, words", [
    ({"tls_cert": "AAAA"}, "tls_cert", "not a DER certificate"),
    ({"tls_cert": board_tls("fieldtest-01", site_ca.new_ca("elsewhere"))["tls_cert"]},
     "tls_cert", "not signed by tls_ca"),
    ({"tls_key": board_tls("fieldtest-01")["tls_key"]}, "tls_key", "not the key of tls_cert"),
    (board_tls("pole-01"), "tls_cert", "made for another board, not bourg-fieldtest-01"),
])
def test_the_host_refuses_tls_keys_the_board_could_not_use(config: dict[str, Any],
                                                             change: dict[str, str], key: str,
                                                             words: str) -> None:
    """What the board would find only at its first connection, and then log for ever: keys
    that do not parse, chain to another CA, do not match, or belong to another board."""
    with pytest.raises(BoardConfigError) as e:
        validate_secrets(config, {"wifi_password": "w", **TLS, **change})
    assert e.value.problems[0][0] == key and words in e.value.problems[0][1]
