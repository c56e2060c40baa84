"""Street lights: each pole's energy and burn-hour counters at the start and end of each
night, for energy per night.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pole_nights",
        sa.Column("site", sa.String(32), primary_key=True),
        sa.Column("device", sa.String(32), primary_key=True),
        sa.Column("night", sa.String(10), primary_key=True),
        sa.Column("wh_first", sa.Float, nullable=False),
        sa.Column("wh_last", sa.Float, nullable=False),
        sa.Column("burn_first", sa.Float, nullable=False),
        sa.Column("burn_last", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("pole_nights")
