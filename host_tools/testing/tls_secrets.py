"""TLS secrets for test and emulated boards whose config asks for TLS (the default): a CA made
once per process and a certificate per board, real enough for the board's `tls` to load, as
`bourg provision` would make them for a site (host_tools.field.site_ca)."""

from __future__ import annotations

from functools import cache

from host_tools.field import site_ca


@cache
def test_ca() -> site_ca.KeyPair:
    return site_ca.new_ca("test")


def board_tls(device_id: str, ca: site_ca.KeyPair | None = None) -> dict[str, str]:
    """tls_ca, tls_cert and tls_key for `device_id` (CN bourg-<device_id>)."""
    ca = ca or test_ca()
    return site_ca.board_secrets(ca, site_ca.issue(ca, f"bourg-{device_id}"))
