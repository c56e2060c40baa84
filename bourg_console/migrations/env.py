"""Alembic's environment for the console: run on the connection db.migrate hands over
(config.attributes["connection"]), never on a URL of its own, so a test's database and the
service's are migrated the same way."""

from alembic import context

from bourg_console.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
