"""Rewards' API models: ``*Create``/``*Request`` bodies refuse unknown fields, ``*Public``
responses; amounts are whole numbers (points and value have no fractions)."""

import uuid
from datetime import datetime
from typing import Annotated, Self

from pydantic import Field, StringConstraints, model_validator

from kit.api.schemas import TRIMMED_LINE, PublicModel, StrictBody
from kit.api.times import IsoDateTime
from services.rewards import models
from services.rewards.models import Currency, Dimension, EntryKind

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
Amount = Annotated[int, Field(ge=1, le=MAX_AMOUNT)]
Limit = Annotated[int, Field(ge=1, le=1_000_000_000)]


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
        default=0, ge=0, le=MAX_PENDING_DAYS, description="points stay pending this long"
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
    amount: int = Field(ge=-MAX_AMOUNT, le=MAX_AMOUNT)
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


# --- tiers, leaderboards, club ------------------------------------------------------------


# --- charges ------------------------------------------------------------------------------
