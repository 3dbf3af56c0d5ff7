"""Default earning rules and tiers: what a new community pays for, and the tier thresholds
(both are data: staff change them through the API; this only seeds them)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 03:30:00.000000
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import kit.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEEDED = uuid.UUID("7b0c4a53-3c1e-4f8e-9d0a-5e1f2a3b4c5d")
SINCE = datetime(2026, 1, 1, tzinfo=UTC)

# name, source type, role, currency, dimension, amount, daily cap, monthly cap, pending days
RULES = [
    ("Welcome", "identity.user.registered.v1", "actor", "points", None, 100, None, None, 0),
    ("Joined", "identity.user.registered.v1", "actor", "value", "interaction", 10, None, None, 0),
    ("Owner", "identity.user.vehicle_verified.v1", "actor", "points", None, 500, None, None, 0),
    (
        "Owner value",
        "identity.user.vehicle_verified.v1",
        "actor",
        "value",
        "development",
        50,
        None,
        None,
        0,
    ),
    ("Post", "content.post.published.v1", "author", "points", None, 10, 50, None, 0),
    ("Post value", "content.post.published.v1", "author", "value", "interaction", 2, 10, None, 0),
    ("Comment", "content.comment.created.v1", "author", "points", None, 2, 20, None, 0),
    (
        "Comment value",
        "content.comment.created.v1",
        "author",
        "value",
        "interaction",
        1,
        10,
        None,
        0,
    ),
    ("Like received", "content.post.liked.v1", "author", "points", None, 1, 50, 500, 0),
    ("Like value", "content.post.liked.v1", "author", "value", "interaction", 1, 20, None, 0),
    ("Featured", "content.post.featured.v1", "author", "points", None, 100, None, None, 0),
    (
        "Featured value",
        "content.post.featured.v1",
        "author",
        "value",
        "development",
        20,
        None,
        None,
        0,
    ),
    ("Report upheld", "content.report.upheld.v1", "reporter", "points", None, 20, 100, None, 0),
    ("Report value", "content.report.upheld.v1", "reporter", "value", "efficiency", 5, 25, None, 0),
    ("Attended", "events.attendance.checked_in.v1", "attendee", "points", None, 30, 90, None, 0),
    (
        "Attended value",
        "events.attendance.checked_in.v1",
        "attendee",
        "value",
        "interaction",
        5,
        15,
        None,
        0,
    ),
    ("Organised", "events.event.completed.v1", "organizer", "points", None, 200, None, None, 0),
    (
        "Organised value",
        "events.event.completed.v1",
        "organizer",
        "value",
        "development",
        30,
        None,
        None,
        0,
    ),
    ("Lead", "referrals.lead.created.v1", "referrer", "points", None, 50, 250, None, 0),
    ("Lead value", "referrals.lead.created.v1", "referrer", "value", "development", 5, 25, None, 0),
    ("Test drive", "referrals.test_drive.done.v1", "referrer", "points", None, 200, None, None, 0),
    ("Delivery", "referrals.reward.approved.v1", "referrer", "points", None, 5000, None, None, 0),
    (
        "Delivery value",
        "referrals.reward.approved.v1",
        "referrer",
        "value",
        "development",
        500,
        None,
        None,
        0,
    ),
    (
        "Delivery welcome",
        "referrals.reward.approved.v1",
        "referee",
        "points",
        None,
        2000,
        None,
        None,
        0,
    ),
    ("Check-in", "rewards.checkin", "actor", "points", None, 5, 5, None, 0),
    ("Check-in streak", "rewards.checkin.streak", "actor", "points", None, 50, 50, None, 0),
]

TIERS = [
    (0, "Member", 0),
    (1, "Bronze", 100),
    (2, "Silver", 500),
    (3, "Gold", 2000),
    (4, "Platinum", 10000),
]


def upgrade() -> None:
    moment = kit.db.UTCDateTime(timezone=True)
    rules = sa.table(
        "rules",
        sa.column("id", sa.Uuid()),
        *(sa.column(name) for name in ("name", "source_type", "role", "currency", "dimension")),
        *(sa.column(name, sa.Integer()) for name in ("amount", "daily_cap", "monthly_cap")),
        *(sa.column(name, moment) for name in ("starts_at", "ends_at", "created_at", "updated_at")),
        *(sa.column(name, sa.Integer()) for name in ("budget", "budget_used", "pending_days")),
        sa.column("created_by", sa.Uuid()),
    )
    op.bulk_insert(
        rules,
        [
            {
                "id": uuid.uuid5(SEEDED, name),
                "name": name,
                "source_type": source_type,
                "role": role,
                "currency": currency,
                "dimension": dimension,
                "amount": amount,
                "daily_cap": daily_cap,
                "monthly_cap": monthly_cap,
                "starts_at": SINCE,
                "ends_at": None,
                "budget": None,
                "budget_used": 0,
                "pending_days": pending_days,
                "created_by": None,
                "created_at": SINCE,
                "updated_at": SINCE,
            }
            for (
                name,
                source_type,
                role,
                currency,
                dimension,
                amount,
                daily_cap,
                monthly_cap,
                pending_days,
            ) in RULES
        ],
    )
    tiers = sa.table("tiers", sa.column("level"), sa.column("name"), sa.column("threshold"))
    op.bulk_insert(
        tiers,
        [
            {"level": level, "name": name, "threshold": threshold}
            for level, name, threshold in TIERS
        ],
    )


def downgrade() -> None:
    op.execute(
        sa.text("DELETE FROM rules WHERE created_by IS NULL AND created_at = :since").bindparams(
            since=SINCE
        )
    )
    op.execute(sa.text("DELETE FROM tiers"))
