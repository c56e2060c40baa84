"""Reading, checking and saving a board's config files: load, save_settings, load_network
(called through bourg.config, which imports this module for one call and drops it).

Why apart from bourg.config: a board loads its config at boot and saves it on a settings
change, never in between; kept loaded, this code would hold ~2 KB of the chip's heap for
nothing. The host runs this file too (host_tools.field.boardconfig).
"""
import json
import sys

from bourg import compat, store
from bourg.config import Config, ConfigError


def _path(root, name):
    if root.endswith("/"):
        return root + name
    return root + "/" + name


def read_json(root, name, missing_ok=False):
    """Parse root/name. Missing: None if missing_ok else ConfigError. Bad JSON: ConfigError.
    A complete name.tmp left by a power cut during an atomic write is used if the file is gone."""
    p = _path(root, name)
    raw = None
    for cand in (p, p + ".tmp"):
        try:
            with open(cand, "rb") as f:
                raw = f.read()
            break
        except OSError:
            continue
    if raw is None:
        if missing_ok:
            return None
        raise ConfigError("", "missing file", name)
    try:
        obj = json.loads(raw)
    except ValueError as e:
        raise ConfigError("", "invalid JSON (" + str(e) + ")", name) from None
    return obj


def _split_settings(settings, allowed):
    """(what settings may change, the names it may not, sorted: the same first error on the
    board and the host). `allowed` holds top-level keys ("app": all of it) or "section.key"
    names ("app.open_window_s": that key of the section alone), for an app whose section
    also holds what only a visit may change (a locker's lock pins)."""
    kept, bad = {}, []
    for k in sorted(settings):
        name, sub = str(k), settings[k]
        if name in allowed:
            kept[k] = sub
            continue
        if not isinstance(sub, dict) or not [a for a in allowed if a.startswith(name + ".")]:
            bad.append(name)
            continue
        part = {}
        for j in sorted(sub):
            if name + "." + str(j) in allowed:
                part[j] = sub[j]
            else:
                bad.append(name + "." + str(j))
        if part:
            kept[k] = part
    return kept, bad


def _filter_settings(settings, allowed, warnings):
    if not isinstance(settings, dict):
        warnings.append("settings.json: expected object, ignored")
        return {}
    kept, bad = _split_settings(settings, allowed)
    for name in bad:
        warnings.append("settings.json: " + name + ": not remote-changeable, ignored")
    return kept


class _Checker:
    """bourg.configcheck and the app's schemas for one check, dropped afterwards:
    `with _Checker(app_schema, pins_schema, schema_module) as chk:` gives chk.cc (the
    checker module), chk.schema (the whole board schema), chk.secrets (the schema of
    secrets.json, with the keys of the schema module's optional SECRETS), chk.pair (its
    optional SECRETS_CHECK across the two files) and chk.uses_mqtt (False when its USES_MQTT
    says the board never talks to a broker, which then needs no TLS keys)."""

    def __init__(self, app_schema=None, pins_schema=None, schema_module=None):
        # only what this check loads is dropped: a module the app imported stays its own
        names = ("bourg.configcheck", "bourg.pins", schema_module)
        self.modules = [n for n in names if n is not None and n not in sys.modules]
        try:
            compat.collect()
            from bourg import configcheck

            app_secrets = self.pair = None
            self.uses_mqtt = True
            if schema_module is not None:
                mod = __import__(schema_module)
                app_schema = mod.SCHEMA
                pins_schema = getattr(mod, "PINS", None)
                app_secrets = getattr(mod, "SECRETS", None)
                self.pair = getattr(mod, "SECRETS_CHECK", None)
                self.uses_mqtt = getattr(mod, "USES_MQTT", True)
            self.cc = configcheck
            self.schema = configcheck.board_schema(app_schema, pins_schema)
            self.secrets = configcheck.secrets_schema(app_secrets)
        except BaseException:
            # a failed import (MemoryError on a full heap) must not leave the checker
            # loaded for good: every later check would take it for the app's own
            self.__exit__()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cc = self.schema = self.secrets = self.pair = None
        for name in self.modules:
            compat.forget(name)
        compat.collect()


def load(root="/", app_schema=None, settings_keys=("app",), ring=None, pins_schema=None,
         schema_module=None):
    """Load, merge and validate the three files under root. Raises ConfigError for a bad
    config.json/secrets.json; a bad settings.json is ignored with a warning (the board runs on
    its provisioned config rather than dropping into safe mode). The schemas are given as
    dicts or, on the board, as the name of the module that holds SCHEMA and PINS."""
    raw = read_json(root, "config.json")
    with _Checker(app_schema, pins_schema, schema_module) as chk:
        cc = chk.cc
        base, pin_warnings = cc.check(raw, chk.schema)
        secrets = read_json(root, "secrets.json")
        secrets = cc.check_secrets(secrets, chk.secrets)
        if chk.uses_mqtt:
            cc.check_tls(base, secrets)
        cc.check_pair(base, secrets, chk.pair, "secrets.json")
        warnings = pin_warnings
        settings = {}
        data = base
        try:
            s = read_json(root, "settings.json", missing_ok=True)
        except ConfigError as e:
            warnings.append(str(e) + ", ignored")
            s = None
        if s:
            settings = _filter_settings(s, settings_keys, warnings)
            if settings:
                try:
                    data = cc.check(cc.merge(raw, settings), chk.schema, "settings.json")[0]
                    cc.check_pair(data, secrets, chk.pair, "settings.json")
                except ConfigError as e:
                    warnings.append(str(e) + " (settings ignored)")
                    settings = {}
                    data = base
    if ring is not None:  # the LogRing scrubs these values from every later log line
        for k in secrets:
            ring.add_secret(secrets[k])
        for w in warnings:
            ring.warn("config", w)
    return Config(data, secrets, settings, warnings, root, app_schema, settings_keys,
                  pins_schema, schema_module)


def save_settings(cfg, patch):
    """Merge `patch` into the board's settings, validate against the full schema, write
    /settings.json atomically and return the new Config. Raises ConfigError (nothing written)
    if the patch is not allowed or not valid."""
    if not isinstance(patch, dict):
        raise ConfigError("", "expected object, got " + type(patch).__name__, "settings.json")
    bad = _split_settings(patch, cfg.settings_keys)[1]
    if bad:
        raise ConfigError(bad[0], "not remote-changeable", "settings.json")
    raw = read_json(cfg.root, "config.json")
    with _Checker(cfg.app_schema, cfg.pins_schema, cfg.schema_module) as chk:
        new_settings = chk.cc.merge(cfg.settings, patch)
        data = chk.cc.check(chk.cc.merge(raw, new_settings), chk.schema, "settings.json")[0]
        chk.cc.check_pair(data, cfg.secrets, chk.pair, "settings.json")
    store.write_atomic(_path(cfg.root, "settings.json"), json.dumps(new_settings).encode())
    return Config(data, cfg.secrets, new_settings, [], cfg.root, cfg.app_schema,
                  cfg.settings_keys, cfg.pins_schema, cfg.schema_module)


def load_network(root="/"):
    """Best-effort subset for SAFE MODE: (data, secrets) with device_id, site and network
    validated, or None when even that is unusable. Never raises."""
    try:
        raw = read_json(root, "config.json")
        with _Checker() as chk:
            data = chk.cc.validate(raw, chk.cc.NET_SCHEMA, "", "config.json")
    except Exception:  # noqa: BLE001 - safe mode must never crash
        return None
    try:
        secrets = read_json(root, "secrets.json")
        if not isinstance(secrets, dict):
            secrets = {}
    except Exception:  # noqa: BLE001
        secrets = {}
    clean = {}
    for k in ("wifi_password", "mqtt_user", "mqtt_password", "tls_ca", "tls_cert", "tls_key"):
        if isinstance(secrets.get(k), str):
            clean[k] = secrets[k]
    return data, clean
