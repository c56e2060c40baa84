"""Board times and sequence numbers as 64-bit integers (a 32-bit unix time ends in 2038, and
PostgreSQL's INTEGER is 32 bits), and at most one standing alarm per board and kind, enforced
by the database: the ingest, the heartbeat and the notifier write from their own threads.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as b:
        for name in ("seq", "t", "t_key"):
            b.alter_column(name, type_=sa.BigInteger, existing_type=sa.Integer)
    op.create_index("uq_alarms_standing", "alarms", ["site", "device", "kind"], unique=True,
                    sqlite_where=sa.text("cleared_at IS NULL"),
                    postgresql_where=sa.text("cleared_at IS NULL"))


def downgrade() -> None:
    op.drop_index("uq_alarms_standing", "alarms")
    with op.batch_alter_table("events") as b:
        for name in ("seq", "t", "t_key"):
            b.alter_column(name, type_=sa.Integer, existing_type=sa.BigInteger)
