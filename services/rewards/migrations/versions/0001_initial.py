"""Initial schema: accounts, ledger entries, point lots, rules and usage, check-ins,
the mall, tiers, the club, charges, the kit outbox (ordered), processed events, audit, idempotency

Revision ID: 0001
Revises:
Create Date: 2026-12-02 04:23:39.350652
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
        "accounts",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("display_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("city", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("timezone", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("timezone_changed_at", kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("points", sa.Integer(), server_default="0", nullable=False),
        sa.Column("pending_points", sa.Integer(), server_default="0", nullable=False),
        sa.Column("debt", sa.Integer(), server_default="0", nullable=False),
        sa.Column("value_interaction", sa.Integer(), server_default="0", nullable=False),
        sa.Column("value_development", sa.Integer(), server_default="0", nullable=False),
        sa.Column("value_efficiency", sa.Integer(), server_default="0", nullable=False),
        sa.Column("value_special", sa.Integer(), server_default="0", nullable=False),
        sa.Column("year_value", sa.Integer(), server_default="0", nullable=False),
        sa.Column("value_year", sa.Integer(), server_default="0", nullable=False),
        sa.Column("quarter_value", sa.Integer(), server_default="0", nullable=False),
        sa.Column("value_quarter", sa.Integer(), server_default="0", nullable=False),
        sa.Column("tier", sa.Integer(), server_default="0", nullable=False),
        sa.Column("tier_kept_until", kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("streak", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_checkin", sa.Date(), nullable=True),
        sa.Column("referrals_rewarded", sa.Integer(), server_default="0", nullable=False),
        sa.Column("referral_year", sa.Integer(), server_default="0", nullable=False),
        sa.Column("deleted_at", kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("debt >= 0", name=op.f("ck_accounts_debt_not_negative")),
        sa.CheckConstraint("pending_points >= 0", name=op.f("ck_accounts_pending_not_negative")),
        sa.CheckConstraint("points >= 0", name=op.f("ck_accounts_points_not_negative")),
        sa.CheckConstraint("tier >= 0", name=op.f("ck_accounts_tier_not_negative")),
        sa.CheckConstraint(
            "value_development >= 0", name=op.f("ck_accounts_development_not_negative")
        ),
        sa.CheckConstraint(
            "value_efficiency >= 0", name=op.f("ck_accounts_efficiency_not_negative")
        ),
        sa.CheckConstraint(
            "value_interaction >= 0", name=op.f("ck_accounts_interaction_not_negative")
        ),
        sa.CheckConstraint("value_special >= 0", name=op.f("ck_accounts_special_not_negative")),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_accounts")),
    )
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_accounts_board_city_quarter",
            ["city", "value_quarter", "quarter_value", "user_id"],
            unique=False,
            postgresql_where=sa.text("deleted_at IS NULL"),
            sqlite_where=sa.text("deleted_at IS NULL"),
        )
        batch_op.create_index(
            "ix_accounts_board_city_year",
            ["city", "value_year", "year_value", "user_id"],
            unique=False,
            postgresql_where=sa.text("deleted_at IS NULL"),
            sqlite_where=sa.text("deleted_at IS NULL"),
        )
        batch_op.create_index(
            "ix_accounts_board_quarter",
            ["value_quarter", "quarter_value", "user_id"],
            unique=False,
            postgresql_where=sa.text("deleted_at IS NULL"),
            sqlite_where=sa.text("deleted_at IS NULL"),
        )
        batch_op.create_index(
            "ix_accounts_board_referrers",
            ["referral_year", "referrals_rewarded", "user_id"],
            unique=False,
            postgresql_where=sa.text("deleted_at IS NULL"),
            sqlite_where=sa.text("deleted_at IS NULL"),
        )
        batch_op.create_index(
            "ix_accounts_board_year",
            ["value_year", "year_value", "user_id"],
            unique=False,
            postgresql_where=sa.text("deleted_at IS NULL"),
            sqlite_where=sa.text("deleted_at IS NULL"),
        )
        batch_op.create_index(
            "ix_accounts_tier_kept_until",
            ["tier_kept_until"],
            unique=False,
            postgresql_where=sa.text("tier_kept_until IS NOT NULL"),
            sqlite_where=sa.text("tier_kept_until IS NOT NULL"),
        )

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
        "checkins",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("timezone", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("streak", sa.Integer(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("bonus", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "local_date", name=op.f("pk_checkins")),
    )
    op.create_table(
        "club_members",
        sa.Column("period", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("computed_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("period", "reason", "user_id", name=op.f("pk_club_members")),
    )
    op.create_table(
        "idempotency_records",
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("request_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("body", sa.JSON(), nullable=True),
        sa.Column("created_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("owner_id", "key", name=op.f("pk_idempotency_records")),
    )
    op.create_table(
        "mall_items",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("stock", sa.Integer(), nullable=False),
        sa.Column("price_points", sa.Integer(), nullable=False),
        sa.Column("cash_cents", sa.Integer(), nullable=False),
        sa.Column("per_user_limit", sa.Integer(), nullable=True),
        sa.Column("starts_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("min_tier", sa.Integer(), nullable=False),
        sa.Column("created_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("cash_cents >= 0", name=op.f("ck_mall_items_cash_not_negative")),
        sa.CheckConstraint(
            "ends_at IS NULL OR ends_at > starts_at", name=op.f("ck_mall_items_ends_after_start")
        ),
        sa.CheckConstraint("min_tier >= 0", name=op.f("ck_mall_items_min_tier_not_negative")),
        sa.CheckConstraint(
            "per_user_limit IS NULL OR per_user_limit > 0",
            name=op.f("ck_mall_items_limit_positive"),
        ),
        sa.CheckConstraint("price_points > 0", name=op.f("ck_mall_items_price_positive")),
        sa.CheckConstraint("stock >= 0", name=op.f("ck_mall_items_stock_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mall_items")),
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
        "poll_charges",
        sa.Column("ballot_id", sa.Uuid(), nullable=False),
        sa.Column("poll_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("created_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('charged', 'refused', 'refunded')",
            name=op.f("ck_poll_charges_status_known"),
        ),
        sa.PrimaryKeyConstraint("ballot_id", name=op.f("pk_poll_charges")),
    )
    op.create_table(
        "processed_events",
        sa.Column("consumer", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("event_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("processed_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "event_id", name=op.f("pk_processed_events")),
    )
    op.create_table(
        "rules",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("source_type", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("dimension", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("daily_cap", sa.Integer(), nullable=True),
        sa.Column("monthly_cap", sa.Integer(), nullable=True),
        sa.Column("starts_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("budget", sa.Integer(), nullable=True),
        sa.Column("budget_used", sa.Integer(), server_default="0", nullable=False),
        sa.Column("pending_days", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(currency = 'points') = (dimension IS NULL)",
            name=op.f("ck_rules_dimension_for_value_only"),
        ),
        sa.CheckConstraint("currency IN ('points', 'value')", name=op.f("ck_rules_currency_known")),
        sa.CheckConstraint("amount > 0", name=op.f("ck_rules_amount_positive")),
        sa.CheckConstraint(
            "budget IS NULL OR budget_used <= budget", name=op.f("ck_rules_within_budget")
        ),
        sa.CheckConstraint("budget_used >= 0", name=op.f("ck_rules_budget_used_not_negative")),
        sa.CheckConstraint(
            "daily_cap IS NULL OR daily_cap > 0", name=op.f("ck_rules_daily_cap_positive")
        ),
        sa.CheckConstraint(
            "ends_at IS NULL OR ends_at > starts_at", name=op.f("ck_rules_ends_after_start")
        ),
        sa.CheckConstraint(
            "monthly_cap IS NULL OR monthly_cap > 0", name=op.f("ck_rules_monthly_cap_positive")
        ),
        sa.CheckConstraint("pending_days >= 0", name=op.f("ck_rules_pending_days_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rules")),
    )
    with op.batch_alter_table("rules", schema=None) as batch_op:
        batch_op.create_index("ix_rules_source_type_role", ["source_type", "role"], unique=False)

    op.create_table(
        "signup_charges",
        sa.Column("charge_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("signup_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("created_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('charged', 'refused', 'refunded')",
            name=op.f("ck_signup_charges_status_known"),
        ),
        sa.PrimaryKeyConstraint("charge_id", name=op.f("pk_signup_charges")),
    )
    with op.batch_alter_table("signup_charges", schema=None) as batch_op:
        batch_op.create_index(
            "ix_signup_charges_signup_id_status", ["signup_id", "status"], unique=False
        )

    op.create_table(
        "tiers",
        sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.CheckConstraint("level >= 0", name=op.f("ck_tiers_level_not_negative")),
        sa.CheckConstraint("threshold >= 0", name=op.f("ck_tiers_threshold_not_negative")),
        sa.PrimaryKeyConstraint("level", name=op.f("pk_tiers")),
        sa.UniqueConstraint("threshold", name=op.f("uq_tiers_threshold")),
    )
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("dimension", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("source_type", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("source_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("reference_type", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=True),
        sa.Column("reference_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("rule_id", sa.Uuid(), nullable=True),
        sa.Column("reverses_id", sa.Uuid(), nullable=True),
        sa.Column("debt_repaid", sa.Integer(), server_default="0", nullable=False),
        sa.Column("debt_added", sa.Integer(), server_default="0", nullable=False),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(currency = 'points') = (dimension IS NULL)",
            name=op.f("ck_ledger_entries_dimension_for_value_only"),
        ),
        sa.CheckConstraint(
            "currency IN ('points', 'value')", name=op.f("ck_ledger_entries_currency_known")
        ),
        sa.CheckConstraint(
            "kind IN ('earn', 'spend', 'refund', 'reverse', 'expire', 'cancel', 'gift', 'grant', 'adjust')",
            name=op.f("ck_ledger_entries_kind_known"),
        ),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_ledger_entries_amount_not_zero")),
        sa.ForeignKeyConstraint(
            ["reverses_id"],
            ["ledger_entries.id"],
            name=op.f("fk_ledger_entries_reverses_id_ledger_entries"),
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"], ["rules.id"], name=op.f("fk_ledger_entries_rule_id_rules")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
        sa.UniqueConstraint("reverses_id", name=op.f("uq_ledger_entries_reverses_id")),
        sa.UniqueConstraint(
            "user_id",
            "currency",
            "source_type",
            "source_id",
            "role",
            name=op.f("uq_ledger_entries_user_id_currency_source_type_source_id_role"),
        ),
    )
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.create_index("ix_ledger_entries_reference_id", ["reference_id"], unique=False)
        batch_op.create_index(
            "ix_ledger_entries_user_id_created_at_id", ["user_id", "created_at", "id"], unique=False
        )

    op.create_table(
        "orders",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("item_id", sa.Uuid(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("cash_cents", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("idempotency_key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("cancel_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("created_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('placed', 'cancelled')", name=op.f("ck_orders_status_known")
        ),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_orders_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["item_id"], ["mall_items.id"], name=op.f("fk_orders_item_id_mall_items")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint(
            "user_id", "idempotency_key", name=op.f("uq_orders_user_id_idempotency_key")
        ),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(
            "ix_orders_user_id_created_at_id", ["user_id", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_orders_user_id_item_id_status", ["user_id", "item_id", "status"], unique=False
        )

    op.create_table(
        "rule_usage",
        sa.Column("rule_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("period", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_rule_usage_amount_not_negative")),
        sa.ForeignKeyConstraint(
            ["rule_id"], ["rules.id"], name=op.f("fk_rule_usage_rule_id_rules"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("rule_id", "user_id", "period", name=op.f("pk_rule_usage")),
    )
    op.create_table(
        "point_lots",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("remaining", sa.Integer(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("activates_at", kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("expires_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "state IN ('pending', 'active', 'cancelled', 'spent', 'expired')",
            name=op.f("ck_point_lots_state_known"),
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_point_lots_amount_positive")),
        sa.CheckConstraint(
            "remaining >= 0 AND remaining <= amount",
            name=op.f("ck_point_lots_remaining_within_amount"),
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["ledger_entries.id"], name=op.f("fk_point_lots_entry_id_ledger_entries")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_point_lots")),
        sa.UniqueConstraint("entry_id", name=op.f("uq_point_lots_entry_id")),
    )
    with op.batch_alter_table("point_lots", schema=None) as batch_op:
        batch_op.create_index(
            "ix_point_lots_state_activates_at", ["state", "activates_at"], unique=False
        )
        batch_op.create_index(
            "ix_point_lots_state_expires_at", ["state", "expires_at"], unique=False
        )
        batch_op.create_index(
            "ix_point_lots_user_id_state_expires_at",
            ["user_id", "state", "expires_at"],
            unique=False,
        )

    order_outbox(op.get_bind())


def downgrade() -> None:
    unorder_outbox(op.get_bind())
    with op.batch_alter_table("point_lots", schema=None) as batch_op:
        batch_op.drop_index("ix_point_lots_user_id_state_expires_at")
        batch_op.drop_index("ix_point_lots_state_expires_at")
        batch_op.drop_index("ix_point_lots_state_activates_at")

    op.drop_table("point_lots")
    op.drop_table("rule_usage")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_user_id_item_id_status")
        batch_op.drop_index("ix_orders_user_id_created_at_id")

    op.drop_table("orders")
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_entries_user_id_created_at_id")
        batch_op.drop_index("ix_ledger_entries_reference_id")

    op.drop_table("ledger_entries")
    op.drop_table("tiers")
    with op.batch_alter_table("signup_charges", schema=None) as batch_op:
        batch_op.drop_index("ix_signup_charges_signup_id_status")

    op.drop_table("signup_charges")
    with op.batch_alter_table("rules", schema=None) as batch_op:
        batch_op.drop_index("ix_rules_source_type_role")

    op.drop_table("rules")
    op.drop_table("processed_events")
    op.drop_table("poll_charges")
    op.drop_table("outbox_sequences")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_outbox_pending",
            postgresql_where=sa.text("published_at IS NULL"),
            sqlite_where=sa.text("published_at IS NULL"),
        )

    op.drop_table("outbox")
    op.drop_table("mall_items")
    op.drop_table("idempotency_records")
    op.drop_table("club_members")
    op.drop_table("checkins")
    with op.batch_alter_table("audit_records", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_records_subject")
        batch_op.drop_index("ix_audit_records_actor")

    op.drop_table("audit_records")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_accounts_tier_kept_until",
            postgresql_where=sa.text("tier_kept_until IS NOT NULL"),
            sqlite_where=sa.text("tier_kept_until IS NOT NULL"),
        )
        batch_op.drop_index(
            "ix_accounts_board_year",
            postgresql_where=sa.text("deleted_at IS NULL"),
            sqlite_where=sa.text("deleted_at IS NULL"),
        )
        batch_op.drop_index(
            "ix_accounts_board_referrers",
            postgresql_where=sa.text("deleted_at IS NULL"),
            sqlite_where=sa.text("deleted_at IS NULL"),
        )
        batch_op.drop_index(
            "ix_accounts_board_quarter",
            postgresql_where=sa.text("deleted_at IS NULL"),
            sqlite_where=sa.text("deleted_at IS NULL"),
        )
        batch_op.drop_index(
            "ix_accounts_board_city_year",
            postgresql_where=sa.text("deleted_at IS NULL"),
            sqlite_where=sa.text("deleted_at IS NULL"),
        )
        batch_op.drop_index(
            "ix_accounts_board_city_quarter",
            postgresql_where=sa.text("deleted_at IS NULL"),
            sqlite_where=sa.text("deleted_at IS NULL"),
        )

    op.drop_table("accounts")
