"""Events' tables: venues, events, signups, draw runs, the local copy of member roles,
no-show penalties, and check-in lists with their offline scans, attendance and conflicts.

Seats are guarded by the database. ``events.confirmed_count`` is the number of confirmed
seats, held under ``CHECK (confirmed_count <= capacity)`` and only ever moved by
conditional ``UPDATE ... RETURNING`` statements in the same transaction as the signup
row they account for; ``UNIQUE (event_id, user_id)`` gives one signup per user and
``UNIQUE (event_id, waitlist_position)`` keeps waitlist positions distinct.

They derive from :class:`EventsTable`, whose MetaData is events' own: :data:`METADATA` holds
them and kit's tables (outbox, processed events, audit records), and no other service's.
Migrations and tests build exactly :data:`METADATA` (ADR 0002).
"""

import enum
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
    "CheckinAttendance",
    "CheckinConflict",
    "CheckinList",
    "CheckinListKind",
    "CheckinScan",
    "DrawRun",
    "Eligibility",
    "Event",
    "EventStatus",
    "EventsTable",
    "MemberRoles",
    "OutboxMessage",
    "OutboxSequence",
    "Penalty",
    "PenaltyReason",
    "ProcessedEvent",
    "Signup",
    "SignupMode",
    "SignupStatus",
    "Venue",
]

NAME_MAX = 200
CITY_MAX = 100
ADDRESS_MAX = 500
TIMEZONE_MAX = 64
DESCRIPTION_MAX = 5000
REASON_MAX = 500
IDEMPOTENCY_KEY_MAX = 200
DEVICE_ID_MAX = 100
SCAN_ID_MAX = 100


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


class SignupStatus(enum.StrEnum):
    APPLIED = "applied"
    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"


class PenaltyReason(enum.StrEnum):
    NO_SHOW = "no_show"


class CheckinListKind(enum.StrEnum):
    ENTRANCE = "entrance"
    SESSION = "session"


def _one_of(column: str, values: type[enum.StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(str(value)) for value in values)})"


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
        CheckConstraint(_one_of("category", Category), name="category_known"),
        CheckConstraint(_one_of("eligibility", Eligibility), name="eligibility_known"),
        CheckConstraint(_one_of("status", EventStatus), name="status_known"),
        CheckConstraint(_one_of("signup_mode", SignupMode), name="signup_mode_known"),
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
    draw_seed: int = Field(sa_type=BigInteger)
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


class DrawRun(EventsTable, table=True):
    """The audit record of an event's lottery: seed, input order and allocation."""

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


class MemberRoles(EventsTable, table=True):
    """The latest roles identity announced for a user (grants that postdate a token)."""

    __tablename__ = "member_roles"

    user_id: uuid.UUID = Field(primary_key=True)
    roles: list[Any] = Field(sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Penalty(EventsTable, table=True):
    """A no-show: a confirmed seat neither checked in nor cancelled when its event ended.

    Active while ``ends_at`` is ahead and it is not waived; meanwhile the user's first-come
    signups open ``delay_seconds`` after an event's ``opens_at`` (the delay is the policy's
    when the penalty was issued, so a changed setting never rewrites a penalty already
    shown to the user). One per signup (``UNIQUE (signup_id)``)."""

    __tablename__ = "penalties"
    __table_args__ = (
        CheckConstraint(_one_of("reason", PenaltyReason), name="reason_known"),
        CheckConstraint("delay_seconds >= 0", name="delay_not_negative"),
        Index("ix_penalties_user_id_ends_at", "user_id", "ends_at"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    user_id: uuid.UUID
    event_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("events.id", ondelete="CASCADE"), nullable=False)
    )
    signup_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("signups.id", ondelete="CASCADE"), nullable=False, unique=True)
    )
    reason: str = Field(default=PenaltyReason.NO_SHOW, max_length=20)
    delay_seconds: int
    issued_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    ends_at: datetime = Field(sa_type=UTCDateTime)
    waived_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    waived_by: uuid.UUID | None = None
    waive_reason: str | None = Field(default=None, max_length=REASON_MAX)


class CheckinList(EventsTable, table=True):
    """Where attendance is counted: the event's one ``entrance`` (the door check-in, which
    sets ``signups.checked_in_at``) or a ``session`` (workshop, dinner). ``scanner_ids``
    are the users besides staff and the organizer who may scan into it."""

    __tablename__ = "checkin_lists"
    __table_args__ = (
        UniqueConstraint("event_id", "name"),
        CheckConstraint(_one_of("kind", CheckinListKind), name="kind_known"),
        Index(
            "uq_checkin_lists_one_entrance",
            "event_id",
            unique=True,
            postgresql_where=text("kind = 'entrance'"),
            sqlite_where=text("kind = 'entrance'"),
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    event_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("events.id", ondelete="CASCADE"), nullable=False)
    )
    name: str = Field(max_length=NAME_MAX)
    kind: str = Field(max_length=20)
    scanner_ids: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CheckinScan(EventsTable, table=True):
    """One scan as a device reported it; ``(list_id, device_id, scan_id)`` makes a retried
    upload a duplicate."""

    __tablename__ = "checkin_scans"
    __table_args__ = (UniqueConstraint("list_id", "device_id", "scan_id"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    list_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("checkin_lists.id", ondelete="CASCADE"), nullable=False)
    )
    signup_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("signups.id", ondelete="CASCADE"), nullable=False)
    )
    device_id: str = Field(max_length=DEVICE_ID_MAX)
    scan_id: str = Field(max_length=SCAN_ID_MAX)
    scanned_at: datetime = Field(sa_type=UTCDateTime)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    uploaded_by: uuid.UUID


class CheckinAttendance(EventsTable, table=True):
    """An attendee counted on a list, once: the first scan recorded wins. An online door
    check-in has no device (``device_id`` and ``scan_id`` null)."""

    __tablename__ = "checkin_attendance"

    list_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("checkin_lists.id", ondelete="CASCADE"), primary_key=True)
    )
    signup_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("signups.id", ondelete="CASCADE"), primary_key=True)
    )
    device_id: str | None = Field(default=None, max_length=DEVICE_ID_MAX)
    scan_id: str | None = Field(default=None, max_length=SCAN_ID_MAX)
    scanned_at: datetime = Field(sa_type=UTCDateTime)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    checked_by: uuid.UUID


class CheckinConflict(EventsTable, table=True):
    """The same ticket scanned on another device than the one it was counted by: counted
    once, kept here for staff. One per later scan (``UNIQUE`` on it)."""

    __tablename__ = "checkin_conflicts"
    __table_args__ = (UniqueConstraint("list_id", "other_device_id", "other_scan_id"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    list_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("checkin_lists.id", ondelete="CASCADE"), nullable=False)
    )
    signup_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("signups.id", ondelete="CASCADE"), nullable=False)
    )
    first_device_id: str | None = Field(default=None, max_length=DEVICE_ID_MAX)
    first_scan_id: str | None = Field(default=None, max_length=SCAN_ID_MAX)
    first_scanned_at: datetime = Field(sa_type=UTCDateTime)
    other_device_id: str = Field(max_length=DEVICE_ID_MAX)
    other_scan_id: str = Field(max_length=SCAN_ID_MAX)
    other_scanned_at: datetime = Field(sa_type=UTCDateTime)
    recorded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
