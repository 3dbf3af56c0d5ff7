"""Leaderboard snapshots: each board's accounts per score bucket, taken by the jobs, from
which a rank deeper than the exact count is estimated

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 10:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import kit.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "board_snapshots",
        sa.Column("board", sa.String(length=20), nullable=False),
        sa.Column("city", sa.String(length=100), nullable=False),
        sa.Column("period", sa.Integer(), nullable=False),
        sa.Column("accounts", sa.Integer(), nullable=False),
        sa.Column("buckets", sa.JSON(), nullable=False),
        sa.Column("taken_at", kit.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("board", "city", name=op.f("pk_board_snapshots")),
    )


def downgrade() -> None:
    op.drop_table("board_snapshots")
