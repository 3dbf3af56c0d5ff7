"""Rewards' API models: ``*Create``/``*Request`` bodies refuse unknown fields, ``*Public``
responses; amounts are whole numbers (points and value have no fractions)."""

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from kit.api.schemas import TRIMMED_LINE, PublicModel, StrictBody
from services.rewards import models
from services.rewards.models import Currency, Dimension, EntryKind
from services.rewards.service.club import Reason as ClubReason
from services.rewards.service.leaderboards import BoardKind, Period

Reason = Annotated[
    str, StringConstraints(min_length=1, max_length=models.REASON_MAX, pattern=TRIMMED_LINE)
]
MAX_AMOUNT = 1_000_000


# --- wallet and ledger --------------------------------------------------------------------


class ValuePublic(PublicModel):
    """Community value by dimension; ``total`` is their sum."""

    interaction: int
    development: int
    efficiency: int
    special: int
    total: int
    this_year: int
    this_quarter: int


class WalletPublic(PublicModel):
    """The caller's balances: what the home screen shows."""

    points: int = Field(ge=0, description="spendable points (they expire)")
    pending_points: int = Field(
        ge=0, description="earned, spendable once their window ends (e.g. a refund window)"
    )
    debt: int = Field(
        ge=0, description="points taken back after they were spent: repaid from new earnings"
    )
    community_value: int = Field(
        ge=0, description="the non-transferable reputation: every contribution, summed"
    )
    value: ValuePublic
    tier: int
    streak: int


class EntryPublic(PublicModel):
    """One ledger entry: what moved, and why (its source, and what to link to)."""

    id: uuid.UUID
    currency: Currency
    dimension: Dimension | None
    amount: int
    kind: EntryKind
    source_type: str
    source_id: str
    role: str
    reference_type: str | None
    reference_id: str | None
    debt_repaid: int
    debt_added: int
    note: str | None
    created_at: datetime


# --- rules, grants, adjustments -----------------------------------------------------------


# --- check-in, gifts, mall ----------------------------------------------------------------


# --- tiers, leaderboards, club ------------------------------------------------------------

MAX_TIERS = 20
MAX_THRESHOLD = 1_000_000_000


class TierPublic(PublicModel):
    """A tier and the community value it takes."""

    level: int
    name: str
    threshold: int


class TierCreate(StrictBody):
    name: Annotated[
        str, StringConstraints(min_length=1, max_length=models.NAME_MAX, pattern=TRIMMED_LINE)
    ]
    threshold: int = Field(ge=0, le=MAX_THRESHOLD)


class TiersReplace(StrictBody):
    """Every tier, lowest first: level 0 at threshold 0, each threshold above the last."""

    tiers: list[TierCreate] = Field(min_length=1, max_length=MAX_TIERS)


class NextTierPublic(PublicModel):
    tier: int
    name: str
    needed: int = Field(ge=0, description="community value still to earn to reach it")


class KeepTierPublic(PublicModel):
    """What keeps the current tier: its threshold, and while the value is below it, how
    long the tier still holds and how much value would keep it."""

    threshold: int
    kept_until: datetime | None = Field(
        description="null while the value covers the threshold; else the demotion's date"
    )
    needed: int = Field(ge=0, description="community value to earn back to keep the tier")


class MyTierPublic(PublicModel):
    tier: int
    name: str
    community_value: int
    next: NextTierPublic | None = Field(description="null at the highest tier")
    keep: KeepTierPublic


class PlacingPublic(PublicModel):
    """One member on a board."""

    rank: int
    user_id: uuid.UUID
    display_name: str | None
    city: str | None
    score: int


class LeaderboardPublic(PublicModel):
    board: BoardKind
    period: Period
    period_key: int = Field(description="the year, or the quarter as ``year * 10 + quarter``")
    city: str | None
    items: list[PlacingPublic]


class MyRankPublic(PublicModel):
    board: BoardKind
    period: Period
    city: str | None
    rank: int | None = Field(description="null when not on the board (no score this period)")
    score: int


class ClubReasonPublic(PublicModel):
    reason: ClubReason
    period: str
    rank: int


class ClubMemberPublic(PublicModel):
    user_id: uuid.UUID
    display_name: str | None
    city: str | None
    reasons: list[ClubReasonPublic]


# --- charges ------------------------------------------------------------------------------
