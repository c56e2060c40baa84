"""Notifying on-call staff of alarms by SMS: when each alarm was notified, escalated and last
reminded, and every message sent.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alarms") as b:
        b.add_column(sa.Column("notified_at", sa.Float))
        b.add_column(sa.Column("escalated_at", sa.Float))
        b.add_column(sa.Column("reminded_at", sa.Float))
        b.add_column(sa.Column("reminders", sa.Integer, nullable=False, server_default="0"))
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("alarm_id", sa.Integer, nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("provider", sa.String(16)),
        sa.Column("ref", sa.String(64)),
        sa.Column("error", sa.String(200)),
        sa.Column("at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("notifications")
    with op.batch_alter_table("alarms") as b:
        for name in ("reminders", "reminded_at", "escalated_at", "notified_at"):
            b.drop_column(name)
