"""The console's fixtures: a PostgreSQL server of its own (Debian's, started here) beside
SQLite, so every store test runs on both databases the console supports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from host_tools.testing.postgres import Postgres, PostgresMissing

pytest_plugins = ["host_tools.testing.plugin"]


@pytest.fixture(autouse=True)
def quick_hashes(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    """argon2id with one pass over 1 MiB instead of three over 64 MiB: the tests make and
    log in hundreds of accounts, at 140 ms a hash. The same algorithm and code paths; the
    production parameters have a test of their own (marked real_hashes)."""
    if request.node.get_closest_marker("real_hashes"):
        return
    from argon2 import PasswordHasher

    from bourg_console import accounts

    quick = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(accounts, "_hasher", quick)
    monkeypatch.setattr(accounts, "_DUMMY_HASH", quick.hash("no such account"))


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    try:
        pg = Postgres()
    except PostgresMissing as e:
        pytest.fail(str(e))
    yield pg
    pg.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each kind the console supports: an SQLite file, or a database
    on the test's PostgreSQL server (started once per worker: `make test` runs these,
    `make unit` leaves them out, as slow)."""
    if request.param == "sqlite":
        return str(tmp_path / "console.sqlite")
    return request.getfixturevalue("postgres").new_database()
