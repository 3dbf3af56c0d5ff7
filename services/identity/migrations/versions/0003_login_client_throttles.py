"""Login throttling per account and client: ``login_client_throttles`` (failures of one
address or device id against one email) and ``known_devices`` (device ids that logged in to
an account before). ``login_throttles`` now counts every email, with an account or not.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 20:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import kit.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_client_throttles",
        sa.Column("email_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("client_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("last_failed_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("blocked_until", kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint(
            "email_hash", "client_hash", name=op.f("pk_login_client_throttles")
        ),
    )
    with op.batch_alter_table("login_client_throttles", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_login_client_throttles_last_failed_at"), ["last_failed_at"], unique=False
        )

    op.create_table(
        "known_devices",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("device_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("last_login_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_known_devices_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "device_hash", name=op.f("pk_known_devices")),
    )


def downgrade() -> None:
    op.drop_table("known_devices")
    with op.batch_alter_table("login_client_throttles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_client_throttles_last_failed_at"))
    op.drop_table("login_client_throttles")
