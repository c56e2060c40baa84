"""Fetch umqtt.simple from PyPI by name, version and sha256, as build/umqtt/umqtt_pinned.py.

Why: the MQTT link is tested against this exact file, so every board runs this exact file,
deployed as /lib/umqtt_pinned under a name that the umqtt.simple frozen into official ESP32
images cannot shadow (`.frozen` comes before `/lib` on the board's path, and the frozen 1.4+
behaves differently: docs/runtime.md). The sdist is an old upip-format archive that pip refuses
to install; the download is checked against a pinned sha256, so what runs is what was reviewed.
"""

from __future__ import annotations

import hashlib
import io
import re
import sys
import tarfile
import urllib.request
from pathlib import Path

NAME = "micropython-umqtt.simple"
VERSION = "1.3.4"
SHA256 = "b6a2520239e3992c63a7de9370ee9b3d9d27819a90359c521f1c0f7ccab8d12f"
INDEX = "https://pypi.org/simple/micropython-umqtt-simple/"
OUT = Path(__file__).resolve().parents[1] / "build" / "umqtt" / "umqtt_pinned.py"


def find_url() -> str:
    """The sdist's address from PyPI's simple index (the JSON API is not always reachable)."""
    html = urllib.request.urlopen(INDEX, timeout=60).read().decode()
    fname = f"{NAME}-{VERSION}.tar.gz"
    for href in re.findall(r'href="([^"]+)"', html):
        if href.split("#")[0].endswith("/" + fname):
            return href.split("#")[0]
    raise SystemExit(f"fetch_umqtt: {fname} is not listed on {INDEX}")


def main() -> int:
    if OUT.exists() and hashlib.sha256(OUT.read_bytes()).hexdigest() == _stamp():
        return 0
    try:
        url = find_url()
        data = urllib.request.urlopen(url, timeout=60).read()
    except OSError as e:
        print(f"fetch_umqtt: cannot download {NAME} {VERSION} from PyPI: {e}\n"
              "  Check the network or a proxy (HTTPS_PROXY), then run `make setup` again.",
              file=sys.stderr)
        return 1
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256:
        print(f"fetch_umqtt: sha256 mismatch for {url}: got {digest}, want {SHA256}",
              file=sys.stderr)
        return 1
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("/umqtt/simple.py"))
        src = tar.extractfile(member)
        assert src is not None
        body = src.read()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_bytes(body)
    (OUT.parent / ".sha256").write_text(hashlib.sha256(body).hexdigest())
    print(f"fetch_umqtt: {NAME} {VERSION} -> {OUT.relative_to(OUT.parents[2])}")
    return 0


def _stamp() -> str:
    p = OUT.parent / ".sha256"
    return p.read_text().strip() if p.exists() else ""


if __name__ == "__main__":
    sys.exit(main())
