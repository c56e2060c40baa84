"""Which secrets a board gets: the one policy of `bourg deploy` and `bourg emulate`.

A secrets file the technician gives (--secrets) wins; else the board's own secrets from the
device registry, found as every command finds it (registry.registry_path). A registry the user
named (--registry or $BOURG_REGISTRY) must exist; none at the default path means "no registry
in use", and the caller says what the board gets then (deploy: it keeps its /secrets.json;
emulate: throwaway dev secrets). Whatever their source, the secrets pass the board's own check
before they leave the host: secrets the board refuses put it into SAFE MODE, a trip to the
pole. Errors are exceptions whose message is the one the technician reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from host_tools.field.boardconfig import BoardConfigError, strict_json, validate_secrets
from host_tools.field.boardid import BoardIdentity
from host_tools.field.registry import Registry, RegistryError, registry_named, registry_path


class SecretsInputError(ValueError):
    """Bad input the technician can fix (a usage error): a secrets file that cannot be read, a named
    registry that is missing or is not one, a device the registry must know and does not."""


class SecretsRefused(BoardConfigError):
    """Secrets the board's own check refuses, with the host's hint at the fix: the board
    can only say what is wrong, the host knows which command puts it right."""

    def __init__(self, refused: BoardConfigError, hint: str) -> None:
        super().__init__(refused.file, refused.problems)
        self.hint = hint

    def __str__(self) -> str:
        return f"{super().__str__()}\n  hint: {self.hint}"


class NoSecrets(SecretsInputError):
    """The board has no /secrets.json and would be given none: its app would start in SAFE
    MODE. Bad input, which --force does not override (it is no identity check)."""


def check_with_hint(config: dict[str, Any], secrets: Any) -> None:
    """The board's verdict (boardconfig.validate_secrets) on the registry's secrets, where a
    missing wifi_password is, most often, a site whose WiFi the registry does not have yet:
    SecretsRefused says which command sets it."""
    try:
        validate_secrets(config, secrets)
    except BoardConfigError as e:
        if not any(p == "wifi_password" and r.startswith("missing") for p, r in e.problems):
            raise
        site = config.get("site") or "SITE"
        raise SecretsRefused(e, f"wifi_password is the site's WiFi password, kept in the "
                                f"registry: `bourg provision site {site} --ssid SSID "
                                "--wifi-password-file FILE` sets it for every board of the "
                                "site") from None


def read_file(path: Path, config: dict[str, Any]) -> dict[str, Any]:
    """The secrets of a --secrets file: a JSON object the board accepts. SecretsInputError
    when it cannot be used at all, BoardConfigError when the board would refuse it."""
    try:
        data = strict_json(path.read_text())
    except OSError as e:
        raise SecretsInputError(f"cannot read --secrets {path}: {e.strerror}") from None
    except ValueError:  # UnicodeDecodeError too
        raise SecretsInputError(f"--secrets {path} is not JSON") from None
    if not isinstance(data, dict):
        raise SecretsInputError(f"--secrets {path}: expected a JSON object")
    validate_secrets(config, data, str(path))
    return data


def open_registry(given: Path | None) -> Registry | None:
    """The registry every command uses, opened (the caller closes it); None when there is
    none at the default path. A named one that is missing, or a file that is not a registry,
    is SecretsInputError."""
    path = registry_path(given)
    if not path.exists():
        if registry_named(given):
            raise SecretsInputError(f"no registry at {path}")
        return None
    try:
        return Registry(path, create=False)
    except RegistryError as e:
        raise SecretsInputError(str(e)) from None


def require_registered(reg: Registry, device_id: str, fix: str) -> None:
    """SecretsInputError when the registry does not know the device; `fix` says what the
    technician can do about it, which depends on the command."""
    if reg.get(device_id) is None:
        raise SecretsInputError(f"{device_id} is not in the registry {reg.path}; {fix}")


def from_registry(reg: Registry, config: dict[str, Any]) -> dict[str, Any]:
    """The board's own secrets from the registry, checked as a --secrets file is.
    RegistryError when the registry cannot give them."""
    secrets = dict(reg.secrets(config["device_id"]))
    check_with_hint(config, secrets)
    return secrets


@dataclass
class DeploySecrets:
    """What a deploy gives the board, and the registry it checks the board against. The
    registry stays open for that check, so use it as a context manager (`with for_deploy(...)
    as chosen:`), which closes it."""

    secrets: dict[str, Any] | None  # None: the board keeps its own /secrets.json
    registry: Registry | None  # open while in `with`, for the identity check
    registry_path: Path  # where the registry is, or would be

    def close(self) -> None:
        if self.registry is not None:
            self.registry.close()

    def __enter__(self) -> DeploySecrets:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def for_deploy(config: dict[str, Any], config_path: Path, secrets_file: Path | None,
               registry: Path | None) -> DeploySecrets:
    """The secrets a deploy installs, so that a board is never deployed with another's keys
    or none by a typo:

    1. a --secrets file, read and checked by the board's own check (read_file);
    2. the registry every command uses, opened (open_registry): one the user named must
       exist; none at the default path means no registry in use;
    3. with no file and a registry, the registry must know the device (its config_path is
       named in the fix), and its secrets pass the same check (from_registry);
    4. with neither, secrets is None: the board keeps its own /secrets.json
       (require_secrets_on refuses a board that has none).

    The registry stays open in the result for the identity check (use it in `with`).
    Raises SecretsInputError, BoardConfigError (secrets the board refuses) or
    RegistryError, with the registry closed."""
    secrets = read_file(secrets_file, config) if secrets_file is not None else None
    reg = open_registry(registry)
    chosen = DeploySecrets(secrets, reg, registry_path(registry))
    if reg is None or secrets is not None:
        return chosen
    try:
        require_registered(reg, config["device_id"], f"run `bourg provision add {config_path}` "
                           "first (or give --secrets)")
        chosen.secrets = from_registry(reg, config)
    except BaseException:
        reg.close()
        raise
    return chosen


def require_secrets_on(ident: BoardIdentity, chosen: DeploySecrets, port: str,
                       device_id: str) -> None:
    """NoSecrets when the board on `port` would be left with no /secrets.json at all."""
    if chosen.secrets is None and not ident.has_secrets:
        raise NoSecrets(f"the board on {port} has no /secrets.json and none was found for "
                        f"{device_id} (no registry at {chosen.registry_path}): its app would "
                        "start in SAFE MODE. Run from where registry/ is, or give --registry "
                        "or --secrets; nothing was copied")
