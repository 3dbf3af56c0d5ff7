"""Rewards' tables: accounts with their balances, the append-only ledger, point lots,
earning rules and their usage, check-ins, the mall, tiers, the club and the charges other
services asked for.

Balances are kept by the database. ``accounts.points`` (spendable), ``pending_points``
and ``debt`` only move by relative ``UPDATE`` in the transaction that writes the ledger
entry they account for, under ``CHECK (... >= 0)``; so for every account

    sum(points entries) = points + pending_points - debt

Every entry names its source (``source_type``: the CloudEvent type or the action;
``source_id``: the CloudEvent id, order id ...; ``role``: which participant it credits)
under a unique key, so an event delivered twice credits once, and ``reverses_id`` is
unique, so an entry is reversed at most once. Earned points are *lots*: pending until
``activates_at`` (or cancelled), then active and spent or expired oldest first.

They derive from :class:`RewardsTable`, whose MetaData is rewards' own (ADR 0002).
"""

import enum
import uuid
from datetime import date, datetime

from sqlalchemy import JSON, CheckConstraint, Column, ForeignKey, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from kit.api.idempotency import IdempotencyRecord
from kit.audit import AuditRecord
from kit.bus.outbox import OutboxMessage, OutboxSequence, ProcessedEvent
from kit.db import UTCDateTime, utcnow
from kit.db.metadata import service_registry
from kit.ids import new_id

__all__ = [
    "METADATA",
    "Account",
    "AuditRecord",
    "ChargeStatus",
    "Checkin",
    "ClubMember",
    "Currency",
    "Dimension",
    "EntryKind",
    "IdempotencyRecord",
    "LedgerEntry",
    "LotState",
    "MallItem",
    "Order",
    "OrderStatus",
    "OutboxMessage",
    "OutboxSequence",
    "PointLot",
    "PollCharge",
    "ProcessedEvent",
    "ReferralReward",
    "RewardsTable",
    "Rule",
    "RuleUsage",
    "SignupCharge",
    "Tier",
]

NAME_MAX = 200
DESCRIPTION_MAX = 2000
REASON_MAX = 500
SOURCE_MAX = 200
TIMEZONE_MAX = 64
CITY_MAX = 100


class Currency(enum.StrEnum):
    POINTS = "points"
    VALUE = "value"
    """Community value: non-transferable, never spent."""


class Dimension(enum.StrEnum):
    """The four dimensions of community value."""

    INTERACTION = "interaction"
    DEVELOPMENT = "development"
    EFFICIENCY = "efficiency"
    SPECIAL = "special"


class EntryKind(enum.StrEnum):
    EARN = "earn"
    SPEND = "spend"
    REFUND = "refund"
    REVERSE = "reverse"
    EXPIRE = "expire"
    CANCEL = "cancel"
    GIFT = "gift"
    GRANT = "grant"
    ADJUST = "adjust"


class LotState(enum.StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    CANCELLED = "cancelled"
    SPENT = "spent"
    EXPIRED = "expired"


class OrderStatus(enum.StrEnum):
    PLACED = "placed"
    CANCELLED = "cancelled"


class ChargeStatus(enum.StrEnum):
    CHARGED = "charged"
    REFUSED = "refused"
    REFUNDED = "refunded"


def one_of(column: str, values: type[enum.StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(str(value)) for value in values)})"


class BoardKind(enum.StrEnum):
    VALUE = "value"
    REFERRERS = "referrers"


class Period(enum.StrEnum):
    YEAR = "year"
    QUARTER = "quarter"


class ClubReason(enum.StrEnum):
    """Why a member is in the club (``contracts.rewards.ClubReason``, as an API enum)."""

    YEARLY_TOP = "yearly_top"
    QUARTER_GROWTH = "quarter_growth"
    TOP_REFERRER = "top_referrer"


class RewardsTable(SQLModel, registry=service_registry(IdempotencyRecord)):
    """Base of rewards' tables: they live in :data:`METADATA`, never in ``SQLModel.metadata``."""


METADATA = RewardsTable.metadata
"""rewards' whole schema: its tables and kit's (with idempotency records); what its
migrations and tests build."""


def board_index(name: str, *columns: str) -> Index:
    """A leaderboard's index: its columns then ``user_id``, over accounts not deleted."""
    alive = text("deleted_at IS NULL")
    return Index(name, *columns, "user_id", postgresql_where=alive, sqlite_where=alive)


class Account(RewardsTable, table=True):
    """One member's balances, community value by dimension, tier, streak and time zone."""

    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint("points >= 0", name="points_not_negative"),
        CheckConstraint("pending_points >= 0", name="pending_not_negative"),
        CheckConstraint("debt >= 0", name="debt_not_negative"),
        CheckConstraint("value_interaction >= 0", name="interaction_not_negative"),
        CheckConstraint("value_development >= 0", name="development_not_negative"),
        CheckConstraint("value_efficiency >= 0", name="efficiency_not_negative"),
        CheckConstraint("value_special >= 0", name="special_not_negative"),
        CheckConstraint("tier >= 0", name="tier_not_negative"),
        board_index("ix_accounts_board_year", "value_year", "year_value"),
        board_index("ix_accounts_board_city_year", "city", "value_year", "year_value"),
        board_index("ix_accounts_board_quarter", "value_quarter", "quarter_value"),
        board_index("ix_accounts_board_city_quarter", "city", "value_quarter", "quarter_value"),
        board_index("ix_accounts_board_referrers", "referral_year", "referrals_rewarded"),
        Index(
            "ix_accounts_tier_kept_until",
            "tier_kept_until",
            postgresql_where=text("tier_kept_until IS NOT NULL"),
            sqlite_where=text("tier_kept_until IS NOT NULL"),
        ),
    )
    """The leaderboards' indexes: partial (deleted accounts are never ranked), read
    backwards for the top and as one range for a rank (:mod:`.service.leaderboards`); and
    the tiers in their grace period, for the demotion job (:mod:`.service.tiers`)."""

    user_id: uuid.UUID = Field(primary_key=True)
    display_name: str | None = Field(default=None, max_length=NAME_MAX)
    city: str | None = Field(default=None, max_length=CITY_MAX)
    timezone: str = Field(default="UTC", max_length=TIMEZONE_MAX)
    timezone_changed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    points: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    pending_points: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    debt: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    value_interaction: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    value_development: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    value_efficiency: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    value_special: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    year_value: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    """Community value earned in ``value_year`` (the yearly leaderboard and club)."""
    value_year: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    quarter_value: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    """Community value earned in ``value_quarter`` (``year * 10 + quarter``: growth)."""
    value_quarter: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    tier: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    tier_kept_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    """A demotion's grace period: the tier holds until then unless the value recovers."""
    streak: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    last_checkin: date | None = None
    referrals_rewarded: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    referral_year: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class LedgerEntry(RewardsTable, table=True):
    """One movement of points or community value, never updated or deleted."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint(one_of("currency", Currency), name="currency_known"),
        CheckConstraint(one_of("kind", EntryKind), name="kind_known"),
        CheckConstraint("amount <> 0", name="amount_not_zero"),
        CheckConstraint(
            "(currency = 'points') = (dimension IS NULL)", name="dimension_for_value_only"
        ),
        UniqueConstraint("user_id", "currency", "source_type", "source_id", "role"),
        UniqueConstraint("reverses_id"),
        Index("ix_ledger_entries_user_id_created_at_id", "user_id", "created_at", "id"),
        Index("ix_ledger_entries_reference_id", "reference_id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    user_id: uuid.UUID
    currency: str = Field(max_length=10)
    dimension: str | None = Field(default=None, max_length=20)
    amount: int
    kind: str = Field(max_length=20)
    source_type: str = Field(max_length=SOURCE_MAX)
    source_id: str = Field(max_length=SOURCE_MAX)
    role: str = Field(default="actor", max_length=20)
    reference_type: str | None = Field(default=None, max_length=50)
    """What the app links to for "why did I get this": ``post``, ``event``, ``order`` ..."""
    reference_id: str | None = Field(default=None, max_length=SOURCE_MAX)
    rule_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(ForeignKey("rules.id"), nullable=True)
    )
    reverses_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(ForeignKey("ledger_entries.id"), nullable=True)
    )
    debt_repaid: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    """Of a credit: the part that repaid debt instead of becoming spendable."""
    debt_added: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    """Of a reversal: the part that was already spent and became debt."""
    note: str | None = Field(default=None, max_length=REASON_MAX)
    created_by: uuid.UUID | None = None
    """The admin of a grant or adjustment, the user of a spend or gift; null: the system."""
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PointLot(RewardsTable, table=True):
    """Points earned by one entry: pending, then active and spent or expired oldest first."""

    __tablename__ = "point_lots"
    __table_args__ = (
        CheckConstraint(one_of("state", LotState), name="state_known"),
        CheckConstraint("remaining >= 0 AND remaining <= amount", name="remaining_within_amount"),
        CheckConstraint("amount > 0", name="amount_positive"),
        Index("ix_point_lots_user_id_state_expires_at", "user_id", "state", "expires_at"),
        Index("ix_point_lots_state_activates_at", "state", "activates_at"),
        Index("ix_point_lots_state_expires_at", "state", "expires_at"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    user_id: uuid.UUID
    entry_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("ledger_entries.id"), nullable=False, unique=True)
    )
    amount: int
    remaining: int
    state: str = Field(max_length=20)
    activates_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ReferralReward(RewardsTable, table=True):
    """What rewards knows of one referral's reward: the year its referrer was counted as a
    rewarded referrer (``accounts.referrals_rewarded``) and whether it was voided; each
    happens at most once, whatever is redelivered or replayed. A voided referral earns
    nothing more."""

    __tablename__ = "referral_rewards"

    referral_id: uuid.UUID = Field(primary_key=True)
    referrer_id: uuid.UUID
    counted_year: int | None = None
    voided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Rule(RewardsTable, table=True):
    """An earning rule: which event pays whom what, capped, in a period, within a budget."""

    __tablename__ = "rules"
    __table_args__ = (
        CheckConstraint(one_of("currency", Currency), name="currency_known"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("daily_cap IS NULL OR daily_cap > 0", name="daily_cap_positive"),
        CheckConstraint("monthly_cap IS NULL OR monthly_cap > 0", name="monthly_cap_positive"),
        CheckConstraint("budget IS NULL OR budget_used <= budget", name="within_budget"),
        CheckConstraint("budget_used >= 0", name="budget_used_not_negative"),
        CheckConstraint("pending_days >= 0", name="pending_days_not_negative"),
        CheckConstraint("ends_at IS NULL OR ends_at > starts_at", name="ends_after_start"),
        CheckConstraint(
            "(currency = 'points') = (dimension IS NULL)", name="dimension_for_value_only"
        ),
        Index("ix_rules_source_type_role", "source_type", "role"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    name: str = Field(max_length=NAME_MAX)
    source_type: str = Field(max_length=SOURCE_MAX)
    role: str = Field(default="actor", max_length=20)
    currency: str = Field(max_length=10)
    dimension: str | None = Field(default=None, max_length=20)
    amount: int
    daily_cap: int | None = None
    """The most one user earns from this rule in one day (UTC), in its currency."""
    monthly_cap: int | None = None
    starts_at: datetime = Field(sa_type=UTCDateTime)
    ends_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    budget: int | None = None
    """A campaign's total: the rule stops paying once ``budget_used`` reaches it."""
    budget_used: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    pending_days: int = 0
    """Points stay pending this many days (a refund window) before they can be spent."""
    created_by: uuid.UUID | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class RuleUsage(RewardsTable, table=True):
    """What one user earned from one rule in one period (``d:2026-12-02``, ``m:2026-12``)."""

    __tablename__ = "rule_usage"
    __table_args__ = (CheckConstraint("amount >= 0", name="amount_not_negative"),)

    rule_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("rules.id", ondelete="CASCADE"), primary_key=True)
    )
    user_id: uuid.UUID = Field(primary_key=True)
    period: str = Field(primary_key=True, max_length=20)
    amount: int = 0


class Checkin(RewardsTable, table=True):
    """One daily check-in: at most one per user per local day (the primary key)."""

    __tablename__ = "checkins"

    user_id: uuid.UUID = Field(primary_key=True)
    local_date: date = Field(primary_key=True)
    timezone: str = Field(max_length=TIMEZONE_MAX)
    streak: int
    points: int
    """What the day credited: the check-in's points and its streak bonus, if any."""
    bonus: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    """The streak bonus part of ``points`` (every seventh consecutive day)."""
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class MallItem(RewardsTable, table=True):
    """An item of the mall: stock, price in points (and a cash part), limits, period, tier."""

    __tablename__ = "mall_items"
    __table_args__ = (
        CheckConstraint("stock >= 0", name="stock_not_negative"),
        CheckConstraint("price_points > 0", name="price_positive"),
        CheckConstraint("cash_cents >= 0", name="cash_not_negative"),
        CheckConstraint("per_user_limit IS NULL OR per_user_limit > 0", name="limit_positive"),
        CheckConstraint("min_tier >= 0", name="min_tier_not_negative"),
        CheckConstraint("ends_at IS NULL OR ends_at > starts_at", name="ends_after_start"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    name: str = Field(max_length=NAME_MAX)
    description: str = Field(default="", max_length=DESCRIPTION_MAX)
    stock: int
    price_points: int
    cash_cents: int = 0
    per_user_limit: int | None = None
    starts_at: datetime = Field(sa_type=UTCDateTime)
    ends_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    min_tier: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Order(RewardsTable, table=True):
    """A mall order paid in points; cancelling refunds the points and returns the stock."""

    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(one_of("status", OrderStatus), name="status_known"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        UniqueConstraint("user_id", "idempotency_key"),
        Index("ix_orders_user_id_item_id_status", "user_id", "item_id", "status"),
        Index("ix_orders_user_id_created_at_id", "user_id", "created_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    user_id: uuid.UUID
    item_id: uuid.UUID = Field(sa_column=Column(ForeignKey("mall_items.id"), nullable=False))
    quantity: int
    points: int
    cash_cents: int
    status: str = Field(default=OrderStatus.PLACED, max_length=20)
    idempotency_key: str | None = Field(default=None, max_length=200)
    cancel_reason: str | None = Field(default=None, max_length=REASON_MAX)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Tier(RewardsTable, table=True):
    """A tier and the community value it takes (thresholds are data)."""

    __tablename__ = "tiers"
    __table_args__ = (
        CheckConstraint("level >= 0", name="level_not_negative"),
        CheckConstraint("threshold >= 0", name="threshold_not_negative"),
        UniqueConstraint("threshold"),
    )

    level: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    name: str = Field(max_length=NAME_MAX)
    threshold: int


class ClubMember(RewardsTable, table=True):
    """One reason a member is in the club for a period (``2026``, ``2026-Q4``)."""

    __tablename__ = "club_members"

    period: str = Field(primary_key=True, max_length=20)
    reason: str = Field(primary_key=True, max_length=20)
    user_id: uuid.UUID = Field(primary_key=True)
    rank: int
    computed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class BoardSnapshot(RewardsTable, table=True):
    """How one board's scores were spread when the jobs last ran: ``buckets`` holds
    ``[lowest score, highest score, accounts]`` per bucket of about 9% of score width,
    highest first. A rank deeper than the exact count's limit is estimated from it
    (:mod:`.service.leaderboards`)."""

    __tablename__ = "board_snapshots"

    board: str = Field(primary_key=True, max_length=20)
    """``value:year``, ``value:quarter`` or ``referrers:year``."""
    city: str = Field(primary_key=True, max_length=CITY_MAX)
    """The city, or ``""`` for the whole community."""
    period: int
    accounts: int
    buckets: list[list[int]] = Field(sa_type=JSON)
    taken_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SignupCharge(RewardsTable, table=True):
    """The fee of one paid seat (events' signup), charged once per confirmation and refunded
    once: ``charge_id`` is the confirming event's CloudEvent id, since a signup cancelled and
    taken again keeps its id and pays again."""

    __tablename__ = "signup_charges"
    __table_args__ = (
        CheckConstraint(one_of("status", ChargeStatus), name="status_known"),
        Index("ix_signup_charges_signup_id_status", "signup_id", "status"),
    )

    charge_id: str = Field(primary_key=True, max_length=SOURCE_MAX)
    signup_id: uuid.UUID
    event_id: uuid.UUID
    user_id: uuid.UUID
    points: int
    status: str = Field(max_length=20)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PollCharge(RewardsTable, table=True):
    """The points of one weighted poll vote (content's ballot): charged once."""

    __tablename__ = "poll_charges"
    __table_args__ = (CheckConstraint(one_of("status", ChargeStatus), name="status_known"),)

    ballot_id: uuid.UUID = Field(primary_key=True)
    poll_id: uuid.UUID
    user_id: uuid.UUID
    points: int
    status: str = Field(max_length=20)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
