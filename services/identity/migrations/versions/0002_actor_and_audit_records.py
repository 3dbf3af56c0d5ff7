"""Actor on events, audit records: ``outbox.actor_id`` (who caused an event; null for the
system) and the ``audit_records`` table of staff and admin actions (kit.audit).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 19:24:11.642471
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import kit.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("actor_id", sa.Uuid(), nullable=True))

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
        batch_op.create_index("ix_audit_records_subject", ["subject_id", "at"], unique=False)
        batch_op.create_index("ix_audit_records_actor", ["actor_id", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("audit_records", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_records_actor")
        batch_op.drop_index("ix_audit_records_subject")
    op.drop_table("audit_records")

    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("actor_id")
