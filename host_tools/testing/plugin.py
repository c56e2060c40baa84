"""pytest fixtures shared by tests/ and hil_tests/ (loaded with `pytest_plugins`), and the
hypothesis profile for CI.

Why a CI profile: a gate must give the same verdict on the same commit. With CI set (as
.ci/run does) hypothesis draws the same examples every run (derandomize); everywhere else it
explores new ones. A failing case found that way is kept as an @example, so the CI profile
checks it on every run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from host_tools.field.mosquitto import Mosquitto

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A real mosquitto on a free loopback port with passwords and an ACL (see mosquitto.py)."""
    with Mosquitto(tmp_path / "mosquitto") as broker:
        yield broker


def require_shared(path: Path) -> Path:
    """A test's data from ../shared: a failure that says what is missing, never a silent skip
    (a skipped regression floor looks like a passed one)."""
    if not Path(path).exists():
        pytest.fail(f"{path} is missing: these tests need the shared data, ../shared beside "
                    "the repository's clone", pytrace=False)
    return Path(path)
