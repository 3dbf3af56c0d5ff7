"""Ordered outbox: every row gets its aggregate's next ``sequence``, a global ``position``
and a relay ``lane`` on insert (kit.bus.outbox.ORDERING_DDL); existing rows are numbered.
The pending index holds only unsent rows, by position.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 01:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from kit.bus.outbox import order_outbox, unorder_outbox

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outbox_sequences",
        sa.Column("topic", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("last", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("topic", "key", name=op.f("pk_outbox_sequences")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sequence", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("position", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("lane", sa.SmallInteger(), nullable=True))
        batch_op.drop_index("ix_outbox_pending")
        batch_op.create_index(
            "ix_outbox_pending",
            ["position"],
            unique=False,
            postgresql_where=sa.text("published_at IS NULL"),
            sqlite_where=sa.text("published_at IS NULL"),
        )
    order_outbox(op.get_bind())


def downgrade() -> None:
    unorder_outbox(op.get_bind())
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_pending")
        batch_op.create_index("ix_outbox_pending", ["published_at", "id"], unique=False)
        batch_op.drop_column("lane")
        batch_op.drop_column("position")
        batch_op.drop_column("sequence")
    op.drop_table("outbox_sequences")
