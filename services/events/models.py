"""Events' tables: venues, events, signups, seat offers, draw runs and the local copy of
member roles.

Seats are guarded by the database. ``events.confirmed_count`` is the number of confirmed
seats, held under ``CHECK (confirmed_count <= capacity)`` and only ever moved by
conditional ``UPDATE ... RETURNING`` statements in the same transaction as the signup
row they account for; ``UNIQUE (event_id, user_id)`` gives one signup per user and
``UNIQUE (event_id, waitlist_position)`` keeps waitlist positions distinct. A seat held by an
open offer (``seat_offers.state = 'offered'``) is counted in ``confirmed_count`` until the
offer is accepted (the seat is the offered user's) or ends (the seat is offered on or freed);
a partial unique index allows one open offer per signup.

Every event commits to its draw seed (``seed_commitment``); ``seed_source`` says who holds
the seed until the draw, and ``CHECK seed_held_by_its_source`` keeps ``draw_seed`` filled
exactly when the server does (an organizer reveals theirs to run the draw).

They derive from :class:`EventsTable`, whose MetaData is events' own: :data:`METADATA` holds
them and kit's tables (outbox, processed events, audit records), and no other service's.
Migrations and tests build exactly :data:`METADATA` (ADR 0002).
"""

import enum
import hashlib
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

from kit.audit import AuditRecord
from kit.bus.outbox import OutboxMessage, OutboxSequence, ProcessedEvent
from kit.db import UTCDateTime, utcnow
from kit.db.metadata import service_registry
from kit.ids import new_id

__all__ = [
    "METADATA",
    "AuditRecord",
    "Category",
    "DrawRun",
    "Eligibility",
    "Event",
    "EventPool",
    "EventStatus",
    "EventsTable",
    "MemberRoles",
    "OfferState",
    "OutboxMessage",
    "OutboxSequence",
    "PoolAudience",
    "ProcessedEvent",
    "QueueTicket",
    "SeatOffer",
    "SeedSource",
    "Signup",
    "SignupMode",
    "SignupStatus",
    "TicketState",
    "Venue",
]

NAME_MAX = 200
CITY_MAX = 100
ADDRESS_MAX = 500
TIMEZONE_MAX = 64
DESCRIPTION_MAX = 5000
REASON_MAX = 500
COMMITMENT_LENGTH = 64
ALGORITHM_MAX = 40
IDEMPOTENCY_KEY_MAX = 200


class Category(enum.StrEnum):
    SALON = "salon"
    WORKSHOP = "workshop"
    OUTDOOR = "outdoor"
    RIDE = "ride"
    FAMILY = "family"
    FESTIVAL = "festival"
    OTHER = "other"


class Eligibility(enum.StrEnum):
    EVERYONE = "everyone"
    OWNERS_ONLY = "owners_only"
    MIN_TIER = "min_tier"
    CLUB_MEMBERS = "club_members"


class EventStatus(enum.StrEnum):
    DRAFT = "draft"
    PENDING_APPROVAL = "pending_approval"
    PUBLISHED = "published"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    COMPLETED = "completed"


class SignupMode(enum.StrEnum):
    FIRST_COME = "first_come"
    DRAW = "draw"
    QUEUE = "queue"


class PoolAudience(enum.StrEnum):
    """Who a capacity pool is for, by role (token roles plus the announced ones)."""

    EVERYONE = "everyone"
    OWNERS = "owners"
    FANS = "fans"
    CLUB_MEMBERS = "club_members"
    VOLUNTEERS = "volunteers"


class TicketState(enum.StrEnum):
    """A queue ticket waits (``queued``) until the allocator gives its final answer."""

    QUEUED = "queued"
    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"
    SOLD_OUT = "sold_out"


class SeedSource(enum.StrEnum):
    """Who holds an event's draw seed until the draw: the server, or the organizer, who
    committed to it at creation and reveals it to run the draw."""

    SERVER = "server"
    ORGANIZER = "organizer"


class SignupStatus(enum.StrEnum):
    APPLIED = "applied"
    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"


class OfferState(enum.StrEnum):
    OFFERED = "offered"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    LAPSED = "lapsed"
    WITHDRAWN = "withdrawn"


def _one_of(column: str, values: type[enum.StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(str(value)) for value in values)})"


SEED_COMMITMENT_PREFIX = "paddock-draw-v1:"


def seed_commitment(seed: int) -> str:
    """The public commitment to a draw seed: hex SHA-256 of ``paddock-draw-v1:<seed>``
    (:mod:`services.events.service.draw` documents it)."""
    return hashlib.sha256(f"{SEED_COMMITMENT_PREFIX}{seed}".encode()).hexdigest()


def _commitment_to_draw_seed(context: Any) -> str | None:
    """An inserted event's default ``seed_commitment``: the one to its ``draw_seed``."""
    seed = context.get_current_parameters().get("draw_seed")
    return None if seed is None else seed_commitment(seed)


class EventsTable(SQLModel, registry=service_registry()):
    """Base of events' tables: they live in :data:`METADATA`, never in ``SQLModel.metadata``."""


METADATA = EventsTable.metadata
"""events' whole schema: its tables and kit's; what its migrations and tests build."""


class Venue(EventsTable, table=True):
    """A city clubhouse or an outside location."""

    __tablename__ = "venues"
    __table_args__ = (CheckConstraint("capacity > 0", name="capacity_positive"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    name: str = Field(max_length=NAME_MAX)
    city: str = Field(max_length=CITY_MAX, index=True)
    address: str = Field(max_length=ADDRESS_MAX)
    capacity: int
    timezone: str = Field(max_length=TIMEZONE_MAX)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Event(EventsTable, table=True):
    """A community event with its seat counters (see the module docstring)."""

    __tablename__ = "events"
    __table_args__ = (
        CheckConstraint("capacity > 0", name="capacity_positive"),
        CheckConstraint("confirmed_count >= 0", name="confirmed_not_negative"),
        CheckConstraint("confirmed_count <= capacity", name="confirmed_within_capacity"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        CheckConstraint("closes_at > opens_at", name="closes_after_open"),
        CheckConstraint("points_fee >= 0", name="fee_not_negative"),
        CheckConstraint("min_tier >= 0", name="tier_not_negative"),
        CheckConstraint("waitlist_limit >= 0", name="waitlist_limit_not_negative"),
        CheckConstraint(_one_of("category", Category), name="category_known"),
        CheckConstraint(_one_of("eligibility", Eligibility), name="eligibility_known"),
        CheckConstraint(_one_of("status", EventStatus), name="status_known"),
        CheckConstraint(_one_of("signup_mode", SignupMode), name="signup_mode_known"),
        CheckConstraint(_one_of("seed_source", SeedSource), name="seed_source_known"),
        CheckConstraint(
            "(seed_source = 'server' AND draw_seed IS NOT NULL)"
            " OR (seed_source = 'organizer' AND draw_seed IS NULL)",
            name="seed_held_by_its_source",
        ),
        Index("ix_events_status_starts_at_id", "status", "starts_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    title: str = Field(max_length=NAME_MAX)
    description: str = Field(default="", max_length=DESCRIPTION_MAX)
    category: str = Field(max_length=20)
    city: str = Field(max_length=CITY_MAX)
    venue_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(ForeignKey("venues.id"), nullable=True)
    )
    starts_at: datetime = Field(sa_type=UTCDateTime)
    ends_at: datetime = Field(sa_type=UTCDateTime)
    opens_at: datetime = Field(sa_type=UTCDateTime)
    closes_at: datetime = Field(sa_type=UTCDateTime)
    capacity: int
    eligibility: str = Field(default=Eligibility.EVERYONE, max_length=20)
    min_tier: int = 0
    points_fee: int = 0
    organizer_id: uuid.UUID = Field(index=True)
    status: str = Field(default=EventStatus.DRAFT, max_length=20)
    signup_mode: str = Field(default=SignupMode.FIRST_COME, max_length=20)
    confirmed_count: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    waitlist_next: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    waitlist_limit: int | None = Field(default=None, description="most waitlist places")
    queue_serving: int = Field(
        default=0,
        sa_type=BigInteger,
        sa_column_kwargs={"server_default": "0"},
        description="queue events: every ticket numbered up to this one has its answer",
    )
    waitlist_offers: bool = Field(default=False, sa_column_kwargs={"server_default": "false"})
    draw_seed: int | None = Field(default=None, sa_type=BigInteger)
    seed_commitment: str = Field(
        max_length=COMMITMENT_LENGTH, sa_column_kwargs={"default": _commitment_to_draw_seed}
    )
    seed_source: str = Field(
        default=SeedSource.SERVER, max_length=20, sa_column_kwargs={"server_default": "server"}
    )
    drawn_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    status_reason: str | None = Field(default=None, max_length=REASON_MAX)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Signup(EventsTable, table=True):
    """One user's place at one event: applied, confirmed, waitlisted or cancelled."""

    __tablename__ = "signups"
    __table_args__ = (
        UniqueConstraint("event_id", "user_id"),
        UniqueConstraint("event_id", "waitlist_position"),
        UniqueConstraint("user_id", "idempotency_key"),
        CheckConstraint(_one_of("status", SignupStatus), name="status_known"),
        CheckConstraint("fee_points >= 0", name="fee_not_negative"),
        Index(
            "ix_signups_event_id_status_waitlist_position",
            "event_id",
            "status",
            "waitlist_position",
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    event_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("events.id", ondelete="CASCADE"), nullable=False)
    )
    user_id: uuid.UUID
    status: str = Field(max_length=20)
    waitlist_position: int | None = None
    fee_points: int = 0
    lost_draw: bool = False
    idempotency_key: str | None = Field(default=None, max_length=IDEMPOTENCY_KEY_MAX)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    checked_in_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class EventPool(EventsTable, table=True):
    """A share of a queue event's seats for one audience, open in its own window (a wave).

    ``taken`` counts the seats the allocator granted from it, under ``taken <= size``; when
    the pool closes its unused seats move to the next open pool by rank (``size`` moves,
    ``carried_in`` records it, ``flowed_at`` says it was done)."""

    __tablename__ = "event_pools"
    __table_args__ = (
        UniqueConstraint("event_id", "rank"),
        CheckConstraint("taken >= 0", name="taken_not_negative"),
        CheckConstraint("taken <= size", name="taken_within_size"),
        CheckConstraint("carried_in >= 0", name="carried_in_not_negative"),
        CheckConstraint("closes_at > opens_at", name="closes_after_open"),
        CheckConstraint(_one_of("audience", PoolAudience), name="audience_known"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    event_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("events.id", ondelete="CASCADE"), nullable=False)
    )
    rank: int
    name: str = Field(max_length=NAME_MAX)
    audience: str = Field(max_length=20)
    size: int
    taken: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    carried_in: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    opens_at: datetime = Field(sa_type=UTCDateTime)
    closes_at: datetime = Field(sa_type=UTCDateTime)
    flowed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class QueueTicket(EventsTable, table=True):
    """A user's place in a queue event's arrival order (``number``: 1, 2, ...) and, once
    the allocator answered it, the outcome: a signup (confirmed or waitlisted) or sold out."""

    __tablename__ = "queue_tickets"
    __table_args__ = (
        UniqueConstraint("event_id", "user_id"),
        UniqueConstraint("event_id", "number"),
        CheckConstraint(_one_of("state", TicketState), name="state_known"),
        Index(
            "ix_queue_tickets_queued",
            "event_id",
            "number",
            postgresql_where=text("state = 'queued'"),
            sqlite_where=text("state = 'queued'"),
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    event_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("events.id", ondelete="CASCADE"), nullable=False)
    )
    user_id: uuid.UUID
    number: int = Field(sa_type=BigInteger)
    pool_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("event_pools.id", ondelete="CASCADE"), nullable=False)
    )
    state: str = Field(default=TicketState.QUEUED, max_length=20)
    signup_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(ForeignKey("signups.id", ondelete="SET NULL"), nullable=True)
    )
    waitlist_position: int | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SeatOffer(EventsTable, table=True):
    """A freed seat held for a waitlisted signup until ``expires_at`` (see the module
    docstring); the signup stays ``waitlisted`` while the offer is open."""

    __tablename__ = "seat_offers"
    __table_args__ = (
        CheckConstraint(_one_of("state", OfferState), name="state_known"),
        CheckConstraint("expires_at > offered_at", name="expires_after_offer"),
        Index(
            "uq_seat_offers_open_signup",
            "signup_id",
            unique=True,
            postgresql_where=text("state = 'offered'"),
            sqlite_where=text("state = 'offered'"),
        ),
        Index(
            "ix_seat_offers_open_expires_at",
            "expires_at",
            postgresql_where=text("state = 'offered'"),
            sqlite_where=text("state = 'offered'"),
        ),
        Index("ix_seat_offers_user_id_state", "user_id", "state"),
        Index("ix_seat_offers_event_id_state", "event_id", "state"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    event_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("events.id", ondelete="CASCADE"), nullable=False)
    )
    signup_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("signups.id", ondelete="CASCADE"), nullable=False)
    )
    user_id: uuid.UUID
    state: str = Field(default=OfferState.OFFERED, max_length=20)
    offered_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class DrawRun(EventsTable, table=True):
    """The audit record of an event's draw: seed and its commitment, the applicants with
    their weights, and the allocation (see :mod:`services.events.service.draw`).

    ``algorithm`` names how ``allocation`` follows from the rest; runs made before weights
    existed are ``legacy-shuffle`` (a priority group, then ``random.Random(seed)``), with
    no commitment, weights or capacity recorded. ``priority`` stays filled (the applicants
    weighted above 1) for older readers.
    """

    __tablename__ = "draw_runs"

    event_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("events.id", ondelete="CASCADE"), primary_key=True)
    )
    seed: int = Field(sa_type=BigInteger)
    ran_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    ran_by: uuid.UUID
    applicants: list[Any] = Field(sa_column=Column(JSON, nullable=False))
    priority: list[Any] = Field(sa_column=Column(JSON, nullable=False))
    allocation: list[Any] = Field(sa_column=Column(JSON, nullable=False))
    confirmed: int
    waitlisted: int
    algorithm: str = Field(
        max_length=ALGORITHM_MAX, sa_column_kwargs={"server_default": "legacy-shuffle"}
    )
    seed_source: str = Field(
        default=SeedSource.SERVER, max_length=20, sa_column_kwargs={"server_default": "server"}
    )
    seed_commitment: str | None = Field(default=None, max_length=COMMITMENT_LENGTH)
    weights: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}")
    )
    capacity: int | None = None


class MemberRoles(EventsTable, table=True):
    """The latest roles identity announced for a user (grants that postdate a token)."""

    __tablename__ = "member_roles"

    user_id: uuid.UUID = Field(primary_key=True)
    roles: list[Any] = Field(sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
