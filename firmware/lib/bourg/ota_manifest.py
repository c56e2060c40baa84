"""An update manifest, as the board checks it before it fetches a byte: who signed it, for
whom, which version, which files. Pure; the host builds manifests with the same rules
(host_tools/field/ota.py) and refuses what the board would refuse.

The payload of cmd/update is the HMAC-SHA256 tag in hex (64 characters) followed by the
manifest's JSON: the tag covers the bytes as sent, so the two sides never have to agree on a
canonical JSON. The key is the board's own update_key (secrets.json), derived on the host from
the site's update key and the device id: a key dug out of one board signs updates for that
board only. Ed25519 would let boards hold no secret at all, but stock MicroPython has no
signature check in C, and one in Python costs seconds of CPU per manifest.
"""
import binascii

from bourg.auth import consteq, hmac_sha256

FORMAT = 1
TAG_HEX = 64
MAX_PAYLOAD = 16384
MAX_FILES = 200
MAX_FILE_BYTES = 262144
MAX_TOTAL_BYTES = 1048576
HEALTH_S = (30, 3600)
DOMAIN = b"bourg-update-v1\n"
# what an update never writes: the board's own files, and the loader that rolls updates back
# (/lib/ota_boot may come: the app reads and writes the boot record with the slot's copy, and
# the loader that runs is the one main.py imports from the factory's /lib before it picks)
FORBIDDEN = ("/config.json", "/secrets.json", "/settings.json", "/main.py", "/boot.py")
_PATH_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./-"
_HEX = "0123456789abcdef"
try:
    import sys

    _JSON_TAKES_BUFFERS = sys.implementation.name == "micropython"
except ImportError:  # pragma: no cover
    _JSON_TAKES_BUFFERS = False


class UpdateRefused(ValueError):
    """A manifest the board will not act on; the message says why, and never holds a key."""


def tag(key, body):
    """The tag of a manifest's JSON bytes (or a view of them) under a board's update key."""
    return hmac_sha256(key, DOMAIN, body)


def parse_version(text):
    """"1.2.3" -> (1, 2, 3); UpdateRefused otherwise."""
    if not isinstance(text, str) or len(text) > 20:
        raise UpdateRefused("version: expected text like 1.2.3")
    parts = text.split(".")
    if len(parts) != 3:
        raise UpdateRefused("version: expected text like 1.2.3")
    out = []
    for p in parts:
        if not p or len(p) > 5 or any(c not in "0123456789" for c in p):
            raise UpdateRefused("version: expected text like 1.2.3")
        out.append(int(p))
    return tuple(out)


def _same_version(text, parsed):
    try:
        return parse_version(text) == parsed
    except UpdateRefused:
        return False


def check_path(path):
    """None for a path an update may write, else why not."""
    if not isinstance(path, str) or not path.startswith("/") or len(path) > 96:
        return "not an absolute path"
    if any(c not in _PATH_CHARS for c in path) or "//" in path or "/." in path:
        return "unusual characters"
    if not (path.endswith(".py") or path.endswith(".mpy")):
        return "not a module"
    if path in FORBIDDEN or path.startswith("/data/") or path.startswith("/ota/"):
        return "a file no update may write"
    return None


def check_files(files):
    """The total size of a manifest's files; UpdateRefused for a list a board refuses."""
    if not isinstance(files, list) or not files or len(files) > MAX_FILES:
        raise UpdateRefused("files: expected a list of 1 to " + str(MAX_FILES))
    seen = set()
    total = 0
    for f in files:
        if not isinstance(f, list) or len(f) != 3:
            raise UpdateRefused("files: each entry is [path, size, sha256]")
        path, size, digest = f
        why = check_path(path)
        if why is not None:
            raise UpdateRefused("files: " + str(path)[:96] + ": " + why)
        if path in seen:
            raise UpdateRefused("files: " + path + " twice")
        seen.add(path)
        if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_FILE_BYTES:
            raise UpdateRefused("files: " + path + ": bad size")
        if (not isinstance(digest, str) or len(digest) != 64
                or any(c not in _HEX for c in digest)):
            raise UpdateRefused("files: " + path + ": bad sha256")
        total += size
    if total > MAX_TOTAL_BYTES:
        raise UpdateRefused("files: " + str(total) + " bytes, more than an app may be")
    return total


def check(payload, key, device_id, role, site, running_version, refused=()):
    """The manifest (a dict, with "total" added) if `payload` is a manifest signed with `key`
    for this board, newer than what it runs and not a version that rolled back here before;
    UpdateRefused otherwise. The tag is checked before the JSON is parsed."""
    import json

    if not isinstance(payload, (bytes, bytearray)):
        raise UpdateRefused("not bytes")
    if len(payload) > MAX_PAYLOAD:
        raise UpdateRefused("manifest too large")
    if len(payload) <= TAG_HEX:
        raise UpdateRefused("manifest too short")
    try:
        hex_tag = bytes(payload[:TAG_HEX]).decode()
    except (ValueError, UnicodeError):
        raise UpdateRefused("bad tag") from None
    if any(c not in _HEX for c in hex_tag):  # lower case only: one payload per manifest
        raise UpdateRefused("bad tag")
    want = binascii.unhexlify(hex_tag)
    # a view, not a copy: the manifest is a few KB, and a board's heap may not have a second
    # block that size in one piece (MicroPython's json.loads takes any buffer)
    body = memoryview(payload)[TAG_HEX:]
    if not consteq(tag(key, body), want):
        raise UpdateRefused("bad tag: not signed with this board's update key")
    try:
        m = json.loads(body if _JSON_TAKES_BUFFERS else bytes(body))  # pyright: ignore[reportArgumentType]
    except ValueError:
        raise UpdateRefused("signed, but not JSON") from None
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise UpdateRefused("unknown manifest format")
    for k, want_v in (("device", device_id), ("role", role), ("site", site)):
        if m.get(k) != want_v:
            raise UpdateRefused(k + ": this manifest is for " + str(m.get(k))[:40])
    new = parse_version(m.get("version"))
    if new <= parse_version(running_version):
        raise UpdateRefused("version " + m["version"] + " is not newer than " +
                            running_version)
    if any(_same_version(v, new) for v in refused):  # "0.3.00" is the "0.3.0" that failed
        raise UpdateRefused("version " + m["version"] + " rolled back here before")
    uid = m.get("id")
    if not isinstance(uid, str) or not 1 <= len(uid) <= 32 or check_path("/" + uid + ".py"):
        raise UpdateRefused("id: expected a short name")
    health = m.get("health_s")
    if not isinstance(health, int) or not HEALTH_S[0] <= health <= HEALTH_S[1]:
        raise UpdateRefused("health_s: expected " + str(HEALTH_S[0]) + " to " +
                            str(HEALTH_S[1]))
    m["total"] = check_files(m.get("files"))
    m["body"] = body
    return m
