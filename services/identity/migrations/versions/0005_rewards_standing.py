"""Rewards' standing: ``users.tier`` (the access token's ``tier`` claim) and the ``club``
role among the known roles.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 04:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = "role IN ('fan', 'owner', 'volunteer', 'staff', 'admin')"
AFTER = "role IN ('fan', 'owner', 'volunteer', 'staff', 'admin', 'club')"


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tier", sa.Integer(), server_default="0", nullable=False))
    with op.batch_alter_table("user_roles", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_user_roles_role_known"), type_="check")
        batch_op.create_check_constraint(op.f("ck_user_roles_role_known"), AFTER)


def downgrade() -> None:
    op.execute("DELETE FROM user_roles WHERE role = 'club'")
    with op.batch_alter_table("user_roles", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_user_roles_role_known"), type_="check")
        batch_op.create_check_constraint(op.f("ck_user_roles_role_known"), BEFORE)
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("tier")
