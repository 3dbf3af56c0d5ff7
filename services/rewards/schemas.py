"""Rewards' API models: ``*Create``/``*Request`` bodies refuse unknown fields, ``*Public``
responses; amounts are whole numbers (points and value have no fractions)."""

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from kit.api.schemas import TRIMMED_LINE, PublicModel
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


# --- check-in, gifts, mall ----------------------------------------------------------------


# --- tiers, leaderboards, club ------------------------------------------------------------


# --- charges ------------------------------------------------------------------------------
