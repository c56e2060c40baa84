"""A locker bank's cold chain as a series: each refrigerated compartment's lowest, highest
and last reading per period, from the bank's `temps` state.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "temperatures",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("site", sa.String(32), nullable=False),
        sa.Column("device", sa.String(32), nullable=False),
        sa.Column("compartment", sa.Integer, nullable=False),
        sa.Column("ended_at", sa.Float, nullable=False),
        sa.Column("every_s", sa.Integer, nullable=False),
        sa.Column("min_c", sa.Float),
        sa.Column("max_c", sa.Float),
        sa.Column("last_c", sa.Float),
        sa.Column("failed", sa.Integer, nullable=False),
        sa.Column("limit_c", sa.Float),
    )
    op.create_index("ix_temperatures_bank", "temperatures", ["site", "device", "ended_at"])


def downgrade() -> None:
    op.drop_index("ix_temperatures_bank", "temperatures")
    op.drop_table("temperatures")
