"""Initial schema: venues, events, signups, draw runs, member roles, outbox

Revision ID: 0001
Revises:
Create Date: 2026-11-23 11:38:08.805940
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import kit.db

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "member_roles",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("updated_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_member_roles")),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("topic", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("type", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("published_at", kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_pending", ["published_at", "id"], unique=False)

    op.create_table(
        "processed_events",
        sa.Column("consumer", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("event_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("processed_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "event_id", name=op.f("pk_processed_events")),
    )
    op.create_table(
        "venues",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("city", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("timezone", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("capacity > 0", name=op.f("ck_venues_capacity_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_venues")),
    )
    with op.batch_alter_table("venues", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_venues_city"), ["city"], unique=False)

    op.create_table(
        "events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=5000), nullable=False),
        sa.Column("category", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("city", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("venue_id", sa.Uuid(), nullable=True),
        sa.Column("starts_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("opens_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closes_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("eligibility", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("min_tier", sa.Integer(), nullable=False),
        sa.Column("points_fee", sa.Integer(), nullable=False),
        sa.Column("organizer_id", sa.Uuid(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("signup_mode", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("confirmed_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("waitlist_next", sa.Integer(), server_default="0", nullable=False),
        sa.Column("draw_seed", sa.BigInteger(), nullable=False),
        sa.Column("drawn_at", kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("status_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("created_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "category IN ('salon', 'workshop', 'outdoor', 'ride', 'family', 'festival', 'other')",
            name=op.f("ck_events_category_known"),
        ),
        sa.CheckConstraint(
            "eligibility IN ('everyone', 'owners_only', 'min_tier', 'club_members')",
            name=op.f("ck_events_eligibility_known"),
        ),
        sa.CheckConstraint(
            "signup_mode IN ('first_come', 'draw')", name=op.f("ck_events_signup_mode_known")
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'pending_approval', 'published', 'rejected', 'cancelled', 'completed')",
            name=op.f("ck_events_status_known"),
        ),
        sa.CheckConstraint("capacity > 0", name=op.f("ck_events_capacity_positive")),
        sa.CheckConstraint("closes_at > opens_at", name=op.f("ck_events_closes_after_open")),
        sa.CheckConstraint(
            "confirmed_count <= capacity", name=op.f("ck_events_confirmed_within_capacity")
        ),
        sa.CheckConstraint("confirmed_count >= 0", name=op.f("ck_events_confirmed_not_negative")),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_events_ends_after_start")),
        sa.CheckConstraint("min_tier >= 0", name=op.f("ck_events_tier_not_negative")),
        sa.CheckConstraint("points_fee >= 0", name=op.f("ck_events_fee_not_negative")),
        sa.ForeignKeyConstraint(
            ["venue_id"], ["venues.id"], name=op.f("fk_events_venue_id_venues")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_events_organizer_id"), ["organizer_id"], unique=False)
        batch_op.create_index(
            "ix_events_status_starts_at_id", ["status", "starts_at", "id"], unique=False
        )

    op.create_table(
        "draw_runs",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("ran_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ran_by", sa.Uuid(), nullable=False),
        sa.Column("applicants", sa.JSON(), nullable=False),
        sa.Column("priority", sa.JSON(), nullable=False),
        sa.Column("allocation", sa.JSON(), nullable=False),
        sa.Column("confirmed", sa.Integer(), nullable=False),
        sa.Column("waitlisted", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_draw_runs_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_draw_runs")),
    )
    op.create_table(
        "signups",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("waitlist_position", sa.Integer(), nullable=True),
        sa.Column("fee_points", sa.Integer(), nullable=False),
        sa.Column("lost_draw", sa.Boolean(), nullable=False),
        sa.Column("idempotency_key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("created_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("checked_in_at", kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('applied', 'confirmed', 'waitlisted', 'cancelled')",
            name=op.f("ck_signups_status_known"),
        ),
        sa.CheckConstraint("fee_points >= 0", name=op.f("ck_signups_fee_not_negative")),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_signups_event_id_events"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signups")),
        sa.UniqueConstraint("event_id", "user_id", name=op.f("uq_signups_event_id_user_id")),
        sa.UniqueConstraint(
            "event_id", "waitlist_position", name=op.f("uq_signups_event_id_waitlist_position")
        ),
        sa.UniqueConstraint(
            "user_id", "idempotency_key", name=op.f("uq_signups_user_id_idempotency_key")
        ),
    )
    with op.batch_alter_table("signups", schema=None) as batch_op:
        batch_op.create_index(
            "ix_signups_event_id_status_waitlist_position",
            ["event_id", "status", "waitlist_position"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("signups", schema=None) as batch_op:
        batch_op.drop_index("ix_signups_event_id_status_waitlist_position")

    op.drop_table("signups")
    op.drop_table("draw_runs")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_status_starts_at_id")
        batch_op.drop_index(batch_op.f("ix_events_organizer_id"))

    op.drop_table("events")
    with op.batch_alter_table("venues", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_venues_city"))

    op.drop_table("venues")
    op.drop_table("processed_events")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_pending")

    op.drop_table("outbox")
    op.drop_table("member_roles")
