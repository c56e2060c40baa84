"""The console's tables, as the latest migration leaves them (migrations/versions/): the
store queries through these, and a test checks that migrating an empty database to the head
gives exactly this schema.

Times are unix seconds (float) as the console received them; `t` of an event is the board's
own clock. JSON columns hold text, so SQLite and PostgreSQL store the same thing."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData()

NAME = String(32)

boards = Table(
    "boards", metadata,
    Column("site", NAME, primary_key=True),
    Column("device", NAME, primary_key=True),
    Column("role", String(32)),
    Column("online", Boolean),  # None until a status was heard
    Column("status_at", Float),
    Column("last_seen", Float, nullable=False),
    Column("fw", String(64)),
    Column("micropython", String(64)),
    Column("boot_cause", String(64)),
    Column("mode", String(16)),  # "normal" or "safe"
    Column("safe_error", Text),
)

board_states = Table(
    "board_states", metadata,
    Column("site", NAME, primary_key=True),
    Column("device", NAME, primary_key=True),
    Column("suffix", String(80), primary_key=True),
    Column("data", Text, nullable=False),
    Column("received_at", Float, nullable=False),
)

events = Table(
    "events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("site", NAME, nullable=False),
    Column("device", NAME, nullable=False),
    Column("kind", NAME, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("t", BigInteger),
    Column("t_key", BigInteger, nullable=False),  # t, or -1 without a clock: part of the key
    Column("data", Text, nullable=False),
    Column("dropped", Integer, nullable=False),
    Column("received_at", Float, nullable=False),
    # the link delivers at least once: a resent event has the same seq, kind and time
    UniqueConstraint("site", "device", "kind", "seq", "t_key", name="uq_events_once"),
)

bays = Table(
    "bays", metadata,
    Column("site", NAME, primary_key=True),
    Column("totem", NAME, primary_key=True),
    Column("bay", NAME, primary_key=True),
    Column("zone", NAME, nullable=False),
    Column("occupied", Boolean),  # None: unknown
    Column("silent", Boolean, nullable=False),
    Column("battery_mv", Integer),
    Column("health", Float),
    Column("confidence", Float),
    Column("since", Float, nullable=False),  # when occupied or silent last changed
    Column("updated_at", Float, nullable=False),
)

zones = Table(
    "zones", metadata,
    Column("site", NAME, primary_key=True),
    Column("totem", NAME, primary_key=True),
    Column("zone", NAME, primary_key=True),
    Column("free", Integer, nullable=False),
    Column("total", Integer, nullable=False),
    Column("silent", Integer, nullable=False),
    Column("updated_at", Float, nullable=False),
)

malformed = Table(
    "malformed", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("topic", String(200), nullable=False),
    Column("reason", String(200), nullable=False),
    Column("received_at", Float, nullable=False),
)

counters = Table(
    "counters", metadata,
    Column("name", String(32), primary_key=True),
    Column("value", Integer, nullable=False),
)

users = Table(
    "users", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),  # accounts.ROLES
    Column("bank", String(32)),  # a merchant's locker bank (its device id)
    Column("password_hash", Text, nullable=False),  # argon2id
    Column("created_at", Float, nullable=False),
    Column("failures", Integer, nullable=False, server_default="0"),  # failed logins in a row
    Column("locked_until", Float),
)

sessions = Table(
    "sessions", metadata,
    Column("token_hash", String(64), primary_key=True),  # sha256 of the cookie's token
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
)

audit = Table(
    "audit", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("actor", String(64), nullable=False),  # an account's name, or "cli"/"console"
    Column("action", String(64), nullable=False),
    Column("target", String(200), nullable=False),
    Column("detail", Text, nullable=False),  # JSON
)

alarms = Table(
    "alarms", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("site", NAME, nullable=False),
    Column("device", NAME, nullable=False),
    Column("kind", String(64), nullable=False),  # alarms.OFFLINE, SAFE_MODE, or the board's
    Column("detail", Text, nullable=False),  # JSON
    Column("raised_at", Float, nullable=False),
    Column("acked_at", Float),
    Column("acked_by", String(64)),
    Column("cleared_at", Float),  # None while the alarm stands
    Column("notified_at", Float),  # the on-call staff were told (notify.py)
    Column("escalated_at", Float),  # nobody acknowledged in time: the next line was told
    Column("reminded_at", Float),  # the last reminder while a board stays offline
    Column("reminders", Integer, nullable=False, server_default="0"),
    Index("ix_alarms_open", "site", "device", "kind", "cleared_at"),
    # one standing alarm per board and kind, whichever thread raises it (store._alarm)
    Index("uq_alarms_standing", "site", "device", "kind", unique=True,
          sqlite_where=text("cleared_at IS NULL"), postgresql_where=text("cleared_at IS NULL")),
)

pole_nights = Table(
    "pole_nights", metadata,
    Column("site", NAME, primary_key=True),
    Column("device", NAME, primary_key=True),
    Column("night", String(10), primary_key=True),  # the evening's date, YYYY-MM-DD (UTC)
    Column("wh_first", Float, nullable=False),  # the pole's `energy` counters, first and
    Column("wh_last", Float, nullable=False),  # last heard that night
    Column("burn_first", Float, nullable=False),
    Column("burn_last", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

parking_sessions = Table(
    "parking_sessions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("site", NAME, nullable=False),
    Column("totem", NAME, nullable=False),
    Column("bay", NAME, nullable=False),
    Column("zone", NAME, nullable=False),
    Column("arrived_at", Float, nullable=False),  # the totem's time of the change, if set
    Column("departed_at", Float),  # None while the vehicle is there
    Index("ix_parking_sessions_bay", "site", "totem", "bay", "departed_at"),
)

notifications = Table(
    "notifications", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alarm_id", Integer, nullable=False),
    Column("stage", String(16), nullable=False),  # raised, escalated, reminder
    Column("phone", String(20), nullable=False),
    Column("status", String(16), nullable=False),  # the provider's, or "failed"
    Column("provider", String(16)),
    Column("ref", String(64)),
    Column("error", String(200)),
    Column("at", Float, nullable=False),
)

pole_groups = Table(
    "pole_groups", metadata,
    Column("name", String(32), primary_key=True),
    Column("members", Text, nullable=False),  # JSON list of pole device ids
    Column("updated_at", Float, nullable=False),
)

temperatures = Table(
    "temperatures", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("site", NAME, nullable=False),
    Column("device", NAME, nullable=False),
    Column("compartment", Integer, nullable=False),
    Column("ended_at", Float, nullable=False),  # the bank's clock if set, else when heard
    Column("every_s", Integer, nullable=False),  # the period's length, the bank's setting
    Column("min_c", Float),  # None when every read of the period failed
    Column("max_c", Float),
    Column("last_c", Float),
    Column("failed", Integer, nullable=False),  # reads of the sensor that failed
    Column("limit_c", Float),  # the compartment's max_c, when it has one
    Index("ix_temperatures_bank", "site", "device", "ended_at"),
)
