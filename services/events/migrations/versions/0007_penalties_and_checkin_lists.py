"""No-show penalties (one per signup, by user and end for the rush's probe); check-in lists
(one entrance per event), the offline scans devices upload, the attendance counted once
per list and the conflicts between devices

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 21:34:29.049150
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import kit.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "checkin_lists",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("scanner_ids", sa.JSON(), nullable=False),
        sa.Column("created_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('entrance', 'session')", name=op.f("ck_checkin_lists_kind_known")
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_checkin_lists_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkin_lists")),
        sa.UniqueConstraint("event_id", "name", name=op.f("uq_checkin_lists_event_id_name")),
    )
    with op.batch_alter_table("checkin_lists", schema=None) as batch_op:
        batch_op.create_index(
            "uq_checkin_lists_one_entrance",
            ["event_id"],
            unique=True,
            postgresql_where=sa.text("kind = 'entrance'"),
            sqlite_where=sa.text("kind = 'entrance'"),
        )

    op.create_table(
        "checkin_attendance",
        sa.Column("list_id", sa.Uuid(), nullable=False),
        sa.Column("signup_id", sa.Uuid(), nullable=False),
        sa.Column("device_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("scan_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("scanned_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("checked_by", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["checkin_lists.id"],
            name=op.f("fk_checkin_attendance_list_id_checkin_lists"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["signup_id"],
            ["signups.id"],
            name=op.f("fk_checkin_attendance_signup_id_signups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("list_id", "signup_id", name=op.f("pk_checkin_attendance")),
    )
    op.create_table(
        "checkin_conflicts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("list_id", sa.Uuid(), nullable=False),
        sa.Column("signup_id", sa.Uuid(), nullable=False),
        sa.Column("first_device_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("first_scan_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("first_scanned_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("other_device_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("other_scan_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("other_scanned_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["checkin_lists.id"],
            name=op.f("fk_checkin_conflicts_list_id_checkin_lists"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["signup_id"],
            ["signups.id"],
            name=op.f("fk_checkin_conflicts_signup_id_signups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkin_conflicts")),
        sa.UniqueConstraint(
            "list_id",
            "other_device_id",
            "other_scan_id",
            name=op.f("uq_checkin_conflicts_list_id_other_device_id_other_scan_id"),
        ),
    )
    op.create_table(
        "checkin_scans",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("list_id", sa.Uuid(), nullable=False),
        sa.Column("signup_id", sa.Uuid(), nullable=False),
        sa.Column("device_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("scan_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("scanned_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("uploaded_by", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["checkin_lists.id"],
            name=op.f("fk_checkin_scans_list_id_checkin_lists"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["signup_id"],
            ["signups.id"],
            name=op.f("fk_checkin_scans_signup_id_signups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkin_scans")),
        sa.UniqueConstraint(
            "list_id",
            "device_id",
            "scan_id",
            name=op.f("uq_checkin_scans_list_id_device_id_scan_id"),
        ),
    )
    op.create_table(
        "penalties",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("signup_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("delay_seconds", sa.Integer(), nullable=False),
        sa.Column("issued_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("waived_at", kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("waived_by", sa.Uuid(), nullable=True),
        sa.Column("waive_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.CheckConstraint("reason IN ('no_show')", name=op.f("ck_penalties_reason_known")),
        sa.CheckConstraint("delay_seconds >= 0", name=op.f("ck_penalties_delay_not_negative")),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_penalties_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["signup_id"],
            ["signups.id"],
            name=op.f("fk_penalties_signup_id_signups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_penalties")),
        sa.UniqueConstraint("signup_id", name=op.f("uq_penalties_signup_id")),
    )
    with op.batch_alter_table("penalties", schema=None) as batch_op:
        batch_op.create_index("ix_penalties_user_id_ends_at", ["user_id", "ends_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("penalties", schema=None) as batch_op:
        batch_op.drop_index("ix_penalties_user_id_ends_at")

    op.drop_table("penalties")
    op.drop_table("checkin_scans")
    op.drop_table("checkin_conflicts")
    op.drop_table("checkin_attendance")
    with op.batch_alter_table("checkin_lists", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_checkin_lists_one_entrance",
            postgresql_where=sa.text("kind = 'entrance'"),
            sqlite_where=sa.text("kind = 'entrance'"),
        )

    op.drop_table("checkin_lists")
