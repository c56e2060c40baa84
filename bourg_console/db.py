"""The console's database: SQLite by default (one file, WAL, no setup), PostgreSQL when given
a `postgresql://` URL; migrated to the latest schema when opened.

WAL lets the web pages read while the ingest writes. `busy_timeout` makes a writer wait for a
lock held elsewhere (a backup, a second reader's checkpoint) instead of failing at once; the
ingest retries beyond that (ingest.py)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event

MIGRATIONS = Path(__file__).parent / "migrations"
BUSY_TIMEOUT_MS = 5000


def url_for(db: str) -> str:
    """A database argument as a URL: a URL stays, a path becomes an SQLite URL."""
    if "://" in db:
        return db.replace("postgresql://", "postgresql+psycopg://", 1) \
            if db.startswith("postgresql://") else db
    return f"sqlite:///{Path(db).resolve()}"


def open_engine(db: str) -> Engine:
    """An engine on `db` (a path or a URL), migrated to the head revision."""
    url = url_for(db)
    if url.startswith("sqlite:///"):
        _private_file(Path(url[len("sqlite:///"):]))
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    migrate(engine)
    return engine


def _private_file(path: Path) -> None:
    """Create the SQLite file mode 0600 (SQLite gives its -wal and -shm files the same):
    it will hold what the fleet says and the console's accounts."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_MS)}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` (alembic upgrade), in one transaction."""
    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()
