"""Rewards' API models: ``*Create``/``*Request`` bodies refuse unknown fields, ``*Public``
responses; amounts are whole numbers (points and value have no fractions)."""

import enum
import uuid
from datetime import date, datetime
from typing import Annotated, Self
from zoneinfo import available_timezones

from pydantic import Field, StringConstraints, model_validator

from kit.api.schemas import (
    TRIMMED_LINE,
    PublicModel,
    StrictBody,
    spelled_members,
    spelled_out,
)
from kit.api.times import IsoDateTime
from services.rewards import models
from services.rewards.models import (
    BoardKind,
    ClubReason,
    Currency,
    Dimension,
    EntryKind,
    OrderStatus,
    Period,
)

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


SOURCE_TYPE = r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$"
ROLE = r"^[a-z][a-z0-9_]*$"
MAX_PENDING_DAYS = 365
Amount = Annotated[int, Field(ge=1, le=MAX_AMOUNT, strict=True)]
Limit = Annotated[int, Field(ge=1, le=1_000_000_000, strict=True)]


class RuleCreate(StrictBody):
    """An earning rule: ``source_type`` (the CloudEvent type, or ``rewards.checkin`` ...)
    pays ``role`` ``amount`` of ``currency`` (community value: in ``dimension``, which
    points have none). Caps and the budget, when set, are at least the amount; rules of one
    source, role and currency may not overlap in time (422 ``overlapping-rule``)."""

    name: Annotated[
        str, StringConstraints(min_length=1, max_length=models.NAME_MAX, pattern=TRIMMED_LINE)
    ]
    source_type: str = Field(min_length=1, max_length=models.SOURCE_MAX, pattern=SOURCE_TYPE)
    role: str = Field(default="actor", min_length=1, max_length=20, pattern=ROLE)
    currency: Currency
    dimension: Dimension | None = None
    amount: Amount
    daily_cap: Limit | None = Field(default=None, description="the most one member earns a day")
    monthly_cap: Limit | None = Field(default=None, description="... and a month (UTC)")
    starts_at: IsoDateTime | None = Field(default=None, description="default: now")
    ends_at: IsoDateTime | None = Field(default=None, description="default: open-ended")
    budget: Limit | None = Field(default=None, description="the campaign's total")
    pending_days: int = Field(
        strict=True,
        default=0,
        ge=0,
        le=MAX_PENDING_DAYS,
        description="points stay pending this long",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.currency == Currency.VALUE) != (self.dimension is not None):
            raise ValueError("community value needs a dimension; points have none")
        if self.currency == Currency.VALUE and self.pending_days:
            raise ValueError("only points are pending")
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class RuleUpdate(StrictBody):
    """What changes in a rule (null removes a cap, the end or the budget); the budget is
    never set below what the rule has paid (409 ``budget-below-used``)."""

    amount: Amount | None = None
    daily_cap: Limit | None = None
    monthly_cap: Limit | None = None
    ends_at: IsoDateTime | None = None
    budget: Limit | None = None

    @model_validator(mode="after")
    def _amount_is_not_removed(self) -> Self:
        if "amount" in self.model_fields_set and self.amount is None:
            raise ValueError("a rule always has an amount")
        return self


class RulePublic(PublicModel):
    id: uuid.UUID
    name: str
    source_type: str
    role: str
    currency: Currency
    dimension: Dimension | None
    amount: int
    daily_cap: int | None
    monthly_cap: int | None
    starts_at: datetime
    ends_at: datetime | None
    budget: int | None
    budget_used: int
    pending_days: int
    created_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


class GrantCreate(StrictBody):
    """Community value granted by an admin, with the reason the member reads."""

    user_id: uuid.UUID
    dimension: Dimension = Dimension.SPECIAL
    amount: Amount
    reason: Reason


class AdjustmentCreate(StrictBody):
    """Points credited (positive) or debited (negative; 409 ``not-enough-points`` beyond
    the spendable points) by an admin, with the reason the member reads."""

    user_id: uuid.UUID
    amount: int = Field(strict=True, ge=-MAX_AMOUNT, le=MAX_AMOUNT)
    reason: Reason

    @model_validator(mode="after")
    def _not_zero(self) -> Self:
        if self.amount == 0:
            raise ValueError("an adjustment moves points: not zero")
        return self


class GrantPublic(PublicModel):
    """A grant or an adjustment: its ledger entry, who made it and why."""

    id: uuid.UUID
    user_id: uuid.UUID
    currency: Currency
    dimension: Dimension | None
    amount: int
    kind: EntryKind
    reason: str | None = Field(validation_alias="note")
    created_by: uuid.UUID | None
    created_at: datetime


class ExpiringPoints(PublicModel):
    expires_at: datetime
    points: int


class ExpiringPublic(PublicModel):
    """The caller's spendable points by the moment they expire, soonest first."""

    items: list[ExpiringPoints]


# --- check-in, gifts, mall ----------------------------------------------------------------

TimeZone = enum.StrEnum(  # type: ignore[misc]
    "TimeZone", spelled_members(sorted(available_timezones()))
)
"""The IANA time zone names this Python knows (``Europe/Berlin``), one schema component
with a member name for each (``EUROPE_BERLIN``) that generated clients keep."""
spelled_out(TimeZone)
MAX_QUANTITY = 10
MAX_STOCK = 1_000_000
MAX_TIER = 100
MESSAGE_MAX = 200
MULTI_LINE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
"""Text that keeps tab and line breaks but no other control character."""


class DailyCheckinPublic(PublicModel):
    """One day's check-in: the streak it made and what it credited."""

    local_date: date = Field(description="the member's day, in their time zone")
    streak: int = Field(ge=1, description="consecutive days checked in, this one included")
    points: int = Field(ge=0, description="points credited, the streak bonus included")
    bonus: int = Field(ge=0, description="the streak bonus part of ``points`` (every 7th day)")


class TimezoneRequest(StrictBody):
    timezone: TimeZone = Field(
        examples=["Asia/Shanghai"], description="an IANA time zone: where the member's day is"
    )


class TimezonePublic(PublicModel):
    timezone: str
    changed_at: datetime | None = Field(description="the last change; null: never changed")
    next_change_at: datetime | None = Field(
        description="the earliest time the zone may change again; null: now"
    )


class GiftCreate(StrictBody):
    recipient_id: uuid.UUID
    amount: int = Field(strict=True, ge=1, le=MAX_AMOUNT, description="points given")
    message: str | None = Field(
        default=None, min_length=1, max_length=MESSAGE_MAX, pattern=TRIMMED_LINE
    )


class GiftDirection(enum.StrEnum):
    SENT = "sent"
    RECEIVED = "received"


class GiftPublic(PublicModel):
    """A gift of points from one member to another, as one side's ledger shows it."""

    id: uuid.UUID = Field(description="the gift: both members' ledger entries name it")
    direction: GiftDirection
    sender_id: uuid.UUID
    recipient_id: uuid.UUID
    amount: int = Field(ge=1)
    message: str | None
    created_at: datetime


ITEM_PERIOD_RULE = "``ends_at`` after ``starts_at`` (else a 422)"


class MallItemCreate(StrictBody):
    name: str = Field(min_length=1, max_length=models.NAME_MAX, pattern=TRIMMED_LINE)
    description: str = Field(default="", max_length=models.DESCRIPTION_MAX, pattern=MULTI_LINE)
    stock: int = Field(strict=True, ge=0, le=MAX_STOCK)
    price_points: int = Field(strict=True, ge=1, le=MAX_AMOUNT)
    cash_cents: int = Field(strict=True, default=0, ge=0, le=MAX_AMOUNT * 100)
    per_user_limit: int | None = Field(
        strict=True,
        default=None,
        ge=1,
        le=MAX_STOCK,
        description="the most one member orders; null: any",
    )
    starts_at: IsoDateTime
    ends_at: IsoDateTime | None = Field(default=None, description=ITEM_PERIOD_RULE)
    min_tier: int = Field(strict=True, default=0, ge=0, le=MAX_TIER)

    @model_validator(mode="after")
    def _period(self) -> Self:
        if self.ends_at is not None and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class MallItemUpdate(StrictBody):
    """What staff change of an item; a field left out stays, ``null`` clears an optional
    one (``per_user_limit``, ``ends_at``)."""

    stock: int | None = Field(strict=True, default=None, ge=0, le=MAX_STOCK)
    price_points: int | None = Field(strict=True, default=None, ge=1, le=MAX_AMOUNT)
    cash_cents: int | None = Field(strict=True, default=None, ge=0, le=MAX_AMOUNT * 100)
    per_user_limit: int | None = Field(strict=True, default=None, ge=1, le=MAX_STOCK)
    min_tier: int | None = Field(strict=True, default=None, ge=0, le=MAX_TIER)
    starts_at: IsoDateTime | None = None
    ends_at: IsoDateTime | None = Field(default=None, description=ITEM_PERIOD_RULE)


class MallItemPublic(PublicModel):
    id: uuid.UUID
    name: str
    description: str
    stock: int = Field(ge=0)
    price_points: int
    cash_cents: int
    per_user_limit: int | None
    starts_at: datetime
    ends_at: datetime | None
    min_tier: int
    created_at: datetime
    updated_at: datetime


class OrderCreate(StrictBody):
    item_id: uuid.UUID
    quantity: int = Field(strict=True, default=1, ge=1, le=MAX_QUANTITY)


class OrderPublic(PublicModel):
    id: uuid.UUID
    item_id: uuid.UUID
    quantity: int
    points: int = Field(description="points paid (refunded when cancelled)")
    cash_cents: int = Field(description="the cash part, collected by the fulfilment partner")
    status: OrderStatus
    cancel_reason: str | None
    created_at: datetime
    updated_at: datetime


class CancelRequest(StrictBody):
    reason: Reason


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
    threshold: int = Field(ge=0, le=MAX_THRESHOLD, strict=True)


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
    exact: bool = Field(
        description="false when the rank is an estimate: deeper than the exact count goes"
    )
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
