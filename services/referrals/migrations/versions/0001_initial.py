"""Initial schema: members, referrals, phone claims, blocklist, partner reports, outbox

Revision ID: 0001
Revises:
Create Date: 2026-12-02 13:54:40.187513
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import kit.db
from kit.bus.outbox import order_outbox, unorder_outbox

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_records",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("subject_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_records")),
    )
    with op.batch_alter_table("audit_records", schema=None) as batch_op:
        batch_op.create_index("ix_audit_records_actor", ["actor_id", "at"], unique=False)
        batch_op.create_index("ix_audit_records_subject", ["subject_id", "at"], unique=False)

    op.create_table(
        "blocklist",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("value", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("label", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('phone', 'referrer')", name=op.f("ck_blocklist_kind_known")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blocklist")),
        sa.UniqueConstraint("kind", "value", name=op.f("uq_blocklist_kind_value")),
    )
    op.create_table(
        "members",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("display_name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("device_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("registered_at", kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_members")),
        sa.UniqueConstraint("code", name=op.f("uq_members_code")),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("topic", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("type", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("published_at", kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("sequence", sa.BigInteger(), nullable=True),
        sa.Column("position", sa.BigInteger(), nullable=True),
        sa.Column("lane", sa.SmallInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbox_pending",
            ["position"],
            unique=False,
            postgresql_where=sa.text("published_at IS NULL"),
            sqlite_where=sa.text("published_at IS NULL"),
        )

    op.create_table(
        "outbox_sequences",
        sa.Column("topic", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("last", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("topic", "key", name=op.f("pk_outbox_sequences")),
    )
    op.create_table(
        "partner_reports",
        sa.Column("partner_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("report_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("referral_id", sa.Uuid(), nullable=True),
        sa.Column("received_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("partner_id", "report_id", name=op.f("pk_partner_reports")),
    )
    op.create_table(
        "phone_claims",
        sa.Column("phone_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("referral_id", sa.Uuid(), nullable=False),
        sa.Column("claimed_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ordered", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("phone_hash", name=op.f("pk_phone_claims")),
    )
    op.create_table(
        "processed_events",
        sa.Column("consumer", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("event_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("processed_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "event_id", name=op.f("pk_processed_events")),
    )
    op.create_table(
        "referrals",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("referrer_id", sa.Uuid(), nullable=False),
        sa.Column("referee_user_id", sa.Uuid(), nullable=True),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("stage", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("announced", sa.Boolean(), nullable=False),
        sa.Column("review_reasons", sa.JSON(), nullable=False),
        sa.Column("review_open", sa.Boolean(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("phone_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("city", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("test_drive_requested", sa.Boolean(), nullable=False),
        sa.Column("erased_at", kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("test_drive_booked_at", kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("test_drive_done_at", kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("order_placed_at", kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("order_cancelled_at", kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("refunded_at", kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reward_state", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("approves_at", kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_at", kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("decision_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("updated_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "reward_state IN ('none', 'pending', 'approved', 'voided')",
            name=op.f("ck_referrals_reward_state_known"),
        ),
        sa.CheckConstraint(
            "source IN ('registration', 'share_form', 'claimed')",
            name=op.f("ck_referrals_source_known"),
        ),
        sa.CheckConstraint(
            "stage IN ('lead', 'test_drive_booked', 'test_drive_done', 'order_placed', 'order_cancelled', 'delivered', 'refunded')",
            name=op.f("ck_referrals_stage_known"),
        ),
        sa.CheckConstraint(
            "referee_user_id IS NULL OR referee_user_id <> referrer_id",
            name=op.f("ck_referrals_not_self"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referrals")),
        sa.UniqueConstraint("referee_user_id", name=op.f("uq_referrals_referee_user_id")),
    )
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.create_index("ix_referrals_phone_hash", ["phone_hash"], unique=False)
        batch_op.create_index(
            "ix_referrals_referrer_id_created_at", ["referrer_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_referrals_review_open_created_at", ["review_open", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_referrals_reward_state_approves_at", ["reward_state", "approves_at"], unique=False
        )

    order_outbox(op.get_bind())


def downgrade() -> None:
    unorder_outbox(op.get_bind())
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.drop_index("ix_referrals_reward_state_approves_at")
        batch_op.drop_index("ix_referrals_review_open_created_at")
        batch_op.drop_index("ix_referrals_referrer_id_created_at")
        batch_op.drop_index("ix_referrals_phone_hash")

    op.drop_table("referrals")
    op.drop_table("processed_events")
    op.drop_table("phone_claims")
    op.drop_table("partner_reports")
    op.drop_table("outbox_sequences")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_outbox_pending",
            postgresql_where=sa.text("published_at IS NULL"),
            sqlite_where=sa.text("published_at IS NULL"),
        )

    op.drop_table("outbox")
    op.drop_table("members")
    op.drop_table("blocklist")
    with op.batch_alter_table("audit_records", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_records_subject")
        batch_op.drop_index("ix_audit_records_actor")

    op.drop_table("audit_records")
