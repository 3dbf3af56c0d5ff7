"""Referrals' tables: members with their codes, referrals (a lead and its way to a car,
with its reward's state and its review), phone claims, the blocklist and the partner
reports already applied.

Attribution is kept by the database: ``UNIQUE (referee_user_id)`` gives an account one
referrer whoever races, and a phone is claimed by one lead at a time in
``phone_claims`` (its primary key is the phone's hash; a claim lapses after the
attribution window unless the lead ordered). Phone numbers are kept as E.164 text, erasable,
beside their HMAC (``REFERRALS_PHONE_HASH_KEY``), which is what checks compare.

They derive from :class:`ReferralsTable`, whose MetaData is referrals' own: :data:`METADATA`
holds them and kit's tables (outbox, processed events, audit records) (ADR 0002).
"""

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from kit.audit import AuditRecord
from kit.bus.outbox import OutboxMessage, OutboxSequence, ProcessedEvent
from kit.db import UTCDateTime, utcnow
from kit.db.metadata import service_registry
from kit.ids import new_id

__all__ = [
    "METADATA",
    "AuditRecord",
    "BlockKind",
    "BlockedEntry",
    "Member",
    "OutboxMessage",
    "OutboxSequence",
    "PartnerReport",
    "PhoneClaim",
    "ProcessedEvent",
    "Referral",
    "ReferralsTable",
    "RewardState",
    "Source",
    "Stage",
]

CODE_LENGTH = 8
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
"""No 0/O, 1/I/L: a code read aloud or copied by hand is the code."""
NAME_MAX = 100
CITY_MAX = 100
PHONE_MAX = 20
HASH_MAX = 64
REASON_MAX = 500


class Source(enum.StrEnum):
    """How the lead came (the funnel event's ``source``)."""

    REGISTRATION = "registration"
    SHARE_FORM = "share_form"
    CLAIMED = "claimed"


class Stage(enum.StrEnum):
    """How far the referee got; the furthest step reached (see :data:`STAGE_RANK`)."""

    LEAD = "lead"
    TEST_DRIVE_BOOKED = "test_drive_booked"
    TEST_DRIVE_DONE = "test_drive_done"
    ORDER_PLACED = "order_placed"
    ORDER_CANCELLED = "order_cancelled"
    DELIVERED = "delivered"
    REFUNDED = "refunded"


STAGE_RANK = {stage: rank for rank, stage in enumerate(Stage)}
"""A step moves the stage only forward: a late 'order placed' after the delivery is recorded
(its time, its event) but the referral stays delivered."""


class RewardState(enum.StrEnum):
    """The referral reward: nothing before delivery, then pending, approved or voided."""

    NONE = "none"
    PENDING = "pending"
    APPROVED = "approved"
    VOIDED = "voided"


class BlockKind(enum.StrEnum):
    PHONE = "phone"
    REFERRER = "referrer"


def _one_of(column: str, values: type[enum.StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(str(value)) for value in values)})"


class ReferralsTable(SQLModel, registry=service_registry()):
    """Base of referrals' tables: they live in :data:`METADATA`, never in ``SQLModel.metadata``."""


METADATA = ReferralsTable.metadata
"""referrals' whole schema: its tables and kit's; what its migrations and tests build."""


class Member(ReferralsTable, table=True):
    """A Paddock account as referrals knows it: its code, its public name and the device it
    registered from (identity's ``UserRegistered``), and whether it was deleted."""

    __tablename__ = "members"

    user_id: uuid.UUID = Field(primary_key=True)
    code: str = Field(max_length=CODE_LENGTH, unique=True)
    display_name: str | None = Field(default=None, max_length=NAME_MAX)
    device_hash: str | None = Field(default=None, max_length=HASH_MAX)
    registered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Referral(ReferralsTable, table=True):
    """One referred prospect: who referred them, how far they got, what the reward is.

    ``announced`` is false while a fraud check holds the lead for staff (nothing about it
    is published until staff approve it); ``review_reasons`` lists every check that asked
    for a look and ``review_open`` says one still waits. The lead's personal data (name,
    phone, city) is erased on request; its steps and reward stay.
    """

    __tablename__ = "referrals"
    __table_args__ = (
        CheckConstraint(_one_of("source", Source), name="source_known"),
        CheckConstraint(_one_of("stage", Stage), name="stage_known"),
        CheckConstraint(_one_of("reward_state", RewardState), name="reward_state_known"),
        CheckConstraint(
            "referee_user_id IS NULL OR referee_user_id <> referrer_id", name="not_self"
        ),
        Index("ix_referrals_referrer_id_created_at", "referrer_id", "created_at"),
        Index("ix_referrals_reward_state_approves_at", "reward_state", "approves_at"),
        Index("ix_referrals_review_open_created_at", "review_open", "created_at"),
        Index("ix_referrals_phone_hash", "phone_hash"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    referrer_id: uuid.UUID
    referee_user_id: uuid.UUID | None = Field(default=None, unique=True)
    source: str = Field(max_length=20)
    stage: str = Field(default=Stage.LEAD, max_length=20)
    announced: bool = True
    review_reasons: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    review_open: bool = False

    name: str | None = Field(default=None, max_length=NAME_MAX)
    phone: str | None = Field(default=None, max_length=PHONE_MAX)
    phone_hash: str | None = Field(default=None, max_length=HASH_MAX)
    city: str | None = Field(default=None, max_length=CITY_MAX)
    test_drive_requested: bool = False
    erased_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    test_drive_booked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    test_drive_done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    order_placed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    order_cancelled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    refunded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    reward_state: str = Field(default=RewardState.NONE, max_length=20)
    approves_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    decided_by: uuid.UUID | None = None
    decision_reason: str | None = Field(default=None, max_length=REASON_MAX)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PhoneClaim(ReferralsTable, table=True):
    """Which lead a phone number is attributed to: one at a time. A claim older than the
    attribution window whose lead never ordered may be taken by a new lead."""

    __tablename__ = "phone_claims"

    phone_hash: str = Field(primary_key=True, max_length=HASH_MAX)
    referral_id: uuid.UUID
    claimed_at: datetime = Field(sa_type=UTCDateTime)
    ordered: bool = False


class BlockedEntry(ReferralsTable, table=True):
    """A phone (by hash) or a referrer (by account id) that earns no referrals."""

    __tablename__ = "blocklist"
    __table_args__ = (
        UniqueConstraint("kind", "value"),
        CheckConstraint(_one_of("kind", BlockKind), name="kind_known"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    kind: str = Field(max_length=20)
    value: str = Field(max_length=HASH_MAX)
    label: str = Field(max_length=HASH_MAX)
    """What staff see: the referrer's id, or the phone with its middle digits masked."""
    reason: str = Field(max_length=REASON_MAX)
    created_by: uuid.UUID
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PartnerReport(ReferralsTable, table=True):
    """A partner's report already applied (a resent one, same ``report_id``, changes nothing)."""

    __tablename__ = "partner_reports"

    partner_id: str = Field(primary_key=True)
    report_id: str = Field(primary_key=True)
    referral_id: uuid.UUID | None = None
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
