"""pytest fixtures shared by tests/ and hil_tests/ (loaded with `pytest_plugins`), and the
hypothesis profile for CI.

Why a CI profile: a gate must give the same verdict on the same commit. With CI set (as
.ci/run does) hypothesis draws the same examples every run (derandomize); everywhere else it
explores new ones. A failing case found that way is kept as an @example, so the CI profile
checks it on every run.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from host_tools.field.mosquitto import Mosquitto

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

# A run started with Ctrl-C ignored (nohup, `cmd &` in a script) hands SIGINT ignored to every
# command a test starts, and an ignored Ctrl-C stops nothing: the tests that press Ctrl-C on a
# `bourg` command would see it run to its end. Their commands get Ctrl-C as a terminal gives it.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


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
