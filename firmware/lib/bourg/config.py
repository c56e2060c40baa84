"""Board configuration: /config.json + /settings.json (remote-changeable) + /secrets.json.

This module stays loaded: the Config an app reads and ConfigError. Reading, checking and
saving the three files is bourg.configload, and the checking itself bourg.configcheck with the
app's schema module (an app names it in SCHEMA_MODULE); each is imported for one load or save
and dropped after it (compat.forget): on the chip, bytecode loaded from flash lives in the
same heap as the app, and these are a tenth of it. The host runs these files too
(host_tools.field.boardconfig).
"""
from bourg import compat


class ConfigError(Exception):
    """A config problem: `file: path: reason`. `path` is the dotted key path ("" = whole file)."""

    def __init__(self, path, reason, file="config.json"):
        self.path = path
        self.reason = reason
        self.file = file
        if path:
            msg = file + ": " + path + ": " + reason
        else:
            msg = file + ": " + reason
        self.msg = msg
        super().__init__(msg)

    def __str__(self):
        return self.msg




class Config:
    """Validated board config. `cfg["app"]`, `cfg.device_id`, `cfg.secrets` (never log it),
    `cfg.settings` (what /settings.json contributed) and `cfg.warnings` (ignored settings).
    It keeps the name of the app's schema module, not the schema, so the schema's heap is
    free between checks."""

    def __init__(self, data, secrets, settings=None, warnings=None, root="/",
                 app_schema=None, settings_keys=("app",), pins_schema=None,
                 schema_module=None):
        self.data = data
        self.secrets = secrets
        self.settings = settings or {}
        self.warnings = warnings or []
        self.root = root
        self.app_schema = app_schema
        self.settings_keys = settings_keys
        self.pins_schema = pins_schema
        self.schema_module = schema_module

    def __getitem__(self, k):
        return self.data[k]

    def get(self, k, default=None):
        return self.data.get(k, default)

    def __contains__(self, k):
        return k in self.data

    @property
    def device_id(self):
        return self.data["device_id"]

    @property
    def site(self):
        return self.data["site"]

    @property
    def role(self):
        return self.data["role"]

    @property
    def app(self):
        return self.data["app"]

    @property
    def topic_prefix(self):
        return topic_prefix(self.data)

    def __repr__(self):  # secrets stay out of reprs that end up in logs
        return "<Config " + str(self.data.get("device_id")) + ">"


def topic_prefix(data):
    """MQTT topic prefix of this board: "bourg/<site>/<device_id>/"."""
    return "bourg/" + data["site"] + "/" + data["device_id"] + "/"


def load(root="/", app_schema=None, settings_keys=("app",), ring=None, pins_schema=None,
         schema_module=None):
    """The board's Config from the three files under root (bourg.configload.load)."""
    return _once("load", (root, app_schema, settings_keys, ring, pins_schema, schema_module))


def save_settings(cfg, patch):
    """Validate and save a settings patch; the new Config (bourg.configload.save_settings)."""
    return _once("save_settings", (cfg, patch))


def load_network(root="/"):
    """What SAFE MODE needs to report, or None (bourg.configload.load_network)."""
    return _once("load_network", (root,))


def _once(name, args):
    from bourg import configload

    try:
        return getattr(configload, name)(*args)
    finally:
        compat.forget("bourg.configload")
