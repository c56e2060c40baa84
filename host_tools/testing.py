"""pytest fixtures shared by tests/ and hil_tests/ (loaded with `pytest_plugins`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .mosquitto import Mosquitto


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A real mosquitto on a free loopback port with passwords and an ACL (see mosquitto.py)."""
    with Mosquitto(tmp_path / "mosquitto") as broker:
        yield broker
