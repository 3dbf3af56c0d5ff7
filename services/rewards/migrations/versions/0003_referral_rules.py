"""Referral rules under the event types referrals publishes, and the referral rewards table
(each referral's referrer counted once, voided once)

Migration 0002 seeded the referral rules under guessed types; referrals' contract
(contracts/referrals.py) names them: a lead and a test drive are funnel steps, the
delivery's points (referrer and referee) are earned held at ``reward.pending`` and made
spendable by ``reward.approved``, which also pays the delivery's community value (value
has no pending state). Only the seeded rows (by their seeded ids) are renamed.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 10:20:00.000000
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import kit.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEEDED = uuid.UUID("7b0c4a53-3c1e-4f8e-9d0a-5e1f2a3b4c5d")
"""Migration 0002's namespace of the seeded rules' ids (``uuid5(SEEDED, name)``)."""

# seeded rule name, the type 0002 guessed, the type referrals publishes
RENAMES = [
    ("Lead", "referrals.lead.created.v1", "referrals.funnel.lead_created.v1"),
    ("Lead value", "referrals.lead.created.v1", "referrals.funnel.lead_created.v1"),
    ("Test drive", "referrals.test_drive.done.v1", "referrals.funnel.test_drive_done.v1"),
    ("Delivery", "referrals.reward.approved.v1", "referrals.reward.pending.v1"),
    ("Delivery welcome", "referrals.reward.approved.v1", "referrals.reward.pending.v1"),
]
"""``Delivery value`` keeps ``referrals.reward.approved.v1``."""


def _rename(*, forward: bool) -> None:
    rules = sa.table("rules", sa.column("id", sa.Uuid()), sa.column("source_type"))
    for name, guessed, published in RENAMES:
        old, new = (guessed, published) if forward else (published, guessed)
        op.execute(
            rules.update()
            .where(rules.c.id == uuid.uuid5(SEEDED, name), rules.c.source_type == old)
            .values(source_type=new)
        )


def upgrade() -> None:
    op.create_table(
        "referral_rewards",
        sa.Column("referral_id", sa.Uuid(), nullable=False),
        sa.Column("referrer_id", sa.Uuid(), nullable=False),
        sa.Column("counted_year", sa.Integer(), nullable=True),
        sa.Column("voided_at", kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("referral_id", name=op.f("pk_referral_rewards")),
    )
    _rename(forward=True)


def downgrade() -> None:
    _rename(forward=False)
    op.drop_table("referral_rewards")
