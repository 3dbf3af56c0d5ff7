"""Search: the trigram index over posts' text, on PostgreSQL (SQLite searches by LIKE alone)

``pg_trgm`` is a trusted extension: the database's owner may create it. The downgrade
drops the index and leaves the extension, which may have been there before (ADR 0015).

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute("CREATE INDEX ix_posts_text_trgm ON posts USING gin (text gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX ix_posts_text_trgm")
