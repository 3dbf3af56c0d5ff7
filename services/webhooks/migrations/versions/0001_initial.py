"""Initial schema: partners, endpoints and their secrets, messages, deliveries, attempts,
inbound messages, portal sessions, outbox

Revision ID: 0001
Revises:
Create Date: 2026-12-02 18:07:52.675664
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import kit.db
from kit.bus.outbox import order_outbox, unorder_outbox

revision: str = "f7bf43266600"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "attempts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("delivery_id", sa.BigInteger(), nullable=False),
        sa.Column("endpoint_id", sa.Uuid(), nullable=False),
        sa.Column("message_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("started_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column(
            "response_excerpt", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False
        ),
        sa.Column("next_attempt_at", kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attempts")),
    )
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.create_index("ix_attempts_delivery_id_id", ["delivery_id", "id"], unique=False)
        batch_op.create_index("ix_attempts_endpoint_id_id", ["endpoint_id", "id"], unique=False)

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
        "inbound_messages",
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("webhook_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("body_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("event_type", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("received_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("partner_id", "webhook_id", name=op.f("pk_inbound_messages")),
    )
    op.create_table(
        "messages",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("event_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("event_type", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
        sa.UniqueConstraint("event_id", name=op.f("uq_messages_event_id")),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index("ix_messages_created_at", ["created_at"], unique=False)

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
        "partners",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("slug", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("contact_email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("portal_key_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("inbound_secret", sa.Text(), nullable=False),
        sa.Column("created_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('active', 'suspended')", name=op.f("ck_partners_status_known")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partners")),
        sa.UniqueConstraint("slug", name=op.f("uq_partners_slug")),
    )
    op.create_table(
        "processed_events",
        sa.Column("consumer", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("event_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("processed_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "event_id", name=op.f("pk_processed_events")),
    )
    op.create_table(
        "endpoints",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("url", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("event_types", sa.JSON(), nullable=False),
        sa.Column("signing", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("ordered", sa.Boolean(), nullable=False),
        sa.Column("max_in_flight", sa.Integer(), nullable=False),
        sa.Column("rate_per_second", sa.Integer(), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("disabled_reason", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("disabled_at", kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("failing_since", kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("paused_until", kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "signing IN ('hmac', 'ed25519')", name=op.f("ck_endpoints_signing_known")
        ),
        sa.CheckConstraint(
            "status IN ('enabled', 'disabled')", name=op.f("ck_endpoints_status_known")
        ),
        sa.CheckConstraint("max_in_flight >= 1", name=op.f("ck_endpoints_max_in_flight_positive")),
        sa.CheckConstraint(
            "rate_per_second IS NULL OR rate_per_second >= 1",
            name=op.f("ck_endpoints_rate_positive"),
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_endpoints_partner_id_partners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_endpoints")),
    )
    with op.batch_alter_table("endpoints", schema=None) as batch_op:
        batch_op.create_index(
            "ix_endpoints_partner_id_created_at", ["partner_id", "created_at"], unique=False
        )

    op.create_table(
        "portal_sessions",
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("csrf_token", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("expires_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_portal_sessions_partner_id_partners")
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_portal_sessions")),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("message_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("endpoint_id", sa.Uuid(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("ordering_key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("leased_until", kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("claimed_at", kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("succeeded_at", kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'succeeded', 'exhausted')",
            name=op.f("ck_deliveries_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["endpoint_id"], ["endpoints.id"], name=op.f("fk_deliveries_endpoint_id_endpoints")
        ),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_deliveries_message_id_messages")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
        sa.UniqueConstraint(
            "message_id", "endpoint_id", name=op.f("uq_deliveries_message_id_endpoint_id")
        ),
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_deliveries_endpoint_id_claimed_at", ["endpoint_id", "claimed_at"], unique=False
        )
        batch_op.create_index(
            "ix_deliveries_endpoint_id_status_id", ["endpoint_id", "status", "id"], unique=False
        )
        batch_op.create_index(
            "ix_deliveries_status_next_attempt_at", ["status", "next_attempt_at"], unique=False
        )

    op.create_table(
        "endpoint_secrets",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("endpoint_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("public_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("created_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("retires_at", kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('hmac', 'ed25519')", name=op.f("ck_endpoint_secrets_kind_known")
        ),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["endpoints.id"],
            name=op.f("fk_endpoint_secrets_endpoint_id_endpoints"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_endpoint_secrets")),
    )
    with op.batch_alter_table("endpoint_secrets", schema=None) as batch_op:
        batch_op.create_index(
            "ix_endpoint_secrets_endpoint_id_created_at",
            ["endpoint_id", "created_at"],
            unique=False,
        )

    order_outbox(op.get_bind())


def downgrade() -> None:
    unorder_outbox(op.get_bind())
    with op.batch_alter_table("endpoint_secrets", schema=None) as batch_op:
        batch_op.drop_index("ix_endpoint_secrets_endpoint_id_created_at")

    op.drop_table("endpoint_secrets")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_status_next_attempt_at")
        batch_op.drop_index("ix_deliveries_endpoint_id_status_id")
        batch_op.drop_index("ix_deliveries_endpoint_id_claimed_at")

    op.drop_table("deliveries")
    op.drop_table("portal_sessions")
    with op.batch_alter_table("endpoints", schema=None) as batch_op:
        batch_op.drop_index("ix_endpoints_partner_id_created_at")

    op.drop_table("endpoints")
    op.drop_table("processed_events")
    op.drop_table("partners")
    op.drop_table("outbox_sequences")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_outbox_pending",
            postgresql_where=sa.text("published_at IS NULL"),
            sqlite_where=sa.text("published_at IS NULL"),
        )

    op.drop_table("outbox")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_created_at")

    op.drop_table("messages")
    op.drop_table("inbound_messages")
    with op.batch_alter_table("audit_records", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_records_subject")
        batch_op.drop_index("ix_audit_records_actor")

    op.drop_table("audit_records")
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_attempts_endpoint_id_id")
        batch_op.drop_index("ix_attempts_delivery_id_id")

    op.drop_table("attempts")
