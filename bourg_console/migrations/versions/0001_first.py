"""The first schema: boards, their states and events, parking bays and zones, refused
messages.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

NAME = sa.String(32)


def upgrade() -> None:
    op.create_table(
        "boards",
        sa.Column("site", NAME, primary_key=True),
        sa.Column("device", NAME, primary_key=True),
        sa.Column("role", sa.String(32)),
        sa.Column("online", sa.Boolean),
        sa.Column("status_at", sa.Float),
        sa.Column("last_seen", sa.Float, nullable=False),
        sa.Column("fw", sa.String(64)),
        sa.Column("micropython", sa.String(64)),
        sa.Column("boot_cause", sa.String(64)),
        sa.Column("mode", sa.String(16)),
        sa.Column("safe_error", sa.Text),
    )
    op.create_table(
        "board_states",
        sa.Column("site", NAME, primary_key=True),
        sa.Column("device", NAME, primary_key=True),
        sa.Column("suffix", sa.String(80), primary_key=True),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("received_at", sa.Float, nullable=False),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("site", NAME, nullable=False),
        sa.Column("device", NAME, nullable=False),
        sa.Column("kind", NAME, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("t", sa.Integer),
        sa.Column("t_key", sa.Integer, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("dropped", sa.Integer, nullable=False),
        sa.Column("received_at", sa.Float, nullable=False),
        sa.UniqueConstraint("site", "device", "kind", "seq", "t_key", name="uq_events_once"),
    )
    op.create_table(
        "bays",
        sa.Column("site", NAME, primary_key=True),
        sa.Column("totem", NAME, primary_key=True),
        sa.Column("bay", NAME, primary_key=True),
        sa.Column("zone", NAME, nullable=False),
        sa.Column("occupied", sa.Boolean),
        sa.Column("silent", sa.Boolean, nullable=False),
        sa.Column("battery_mv", sa.Integer),
        sa.Column("health", sa.Float),
        sa.Column("confidence", sa.Float),
        sa.Column("since", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "zones",
        sa.Column("site", NAME, primary_key=True),
        sa.Column("totem", NAME, primary_key=True),
        sa.Column("zone", NAME, primary_key=True),
        sa.Column("free", sa.Integer, nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("silent", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "malformed",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("received_at", sa.Float, nullable=False),
    )
    op.create_table(
        "counters",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("value", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    for name in ("counters", "malformed", "zones", "bays", "events", "board_states",
                 "boards"):
        op.drop_table(name)
