"""The console's fixtures: a PostgreSQL server of its own (Debian's, started here) beside
SQLite, so every store test runs on both databases the console supports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from host_tools.testing.postgres import Postgres, PostgresMissing

pytest_plugins = ["host_tools.testing.plugin"]


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    try:
        pg = Postgres()
    except PostgresMissing as e:
        pytest.fail(str(e))
    yield pg
    pg.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each kind the console supports: an SQLite file, or a database
    on the test's PostgreSQL server."""
    if request.param == "sqlite":
        return str(tmp_path / "console.sqlite")
    return request.getfixturevalue("postgres").new_database()
