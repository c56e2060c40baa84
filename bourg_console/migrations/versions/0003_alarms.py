"""Alarms: one list with a lifecycle (raised, acknowledged, cleared).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alarms",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("site", sa.String(32), nullable=False),
        sa.Column("device", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("raised_at", sa.Float, nullable=False),
        sa.Column("acked_at", sa.Float),
        sa.Column("acked_by", sa.String(64)),
        sa.Column("cleared_at", sa.Float),
    )
    op.create_index("ix_alarms_open", "alarms", ["site", "device", "kind", "cleared_at"])


def downgrade() -> None:
    op.drop_index("ix_alarms_open", "alarms")
    op.drop_table("alarms")
