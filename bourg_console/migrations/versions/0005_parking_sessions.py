"""Parking sessions: a vehicle's stay in a bay, from the totem's `bay` events.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "parking_sessions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("site", sa.String(32), nullable=False),
        sa.Column("totem", sa.String(32), nullable=False),
        sa.Column("bay", sa.String(32), nullable=False),
        sa.Column("zone", sa.String(32), nullable=False),
        sa.Column("arrived_at", sa.Float, nullable=False),
        sa.Column("departed_at", sa.Float),
    )
    op.create_index("ix_parking_sessions_bay", "parking_sessions",
                    ["site", "totem", "bay", "departed_at"])


def downgrade() -> None:
    op.drop_index("ix_parking_sessions_bay", "parking_sessions")
    op.drop_table("parking_sessions")
