"""Webhooks' tables: partner apps and their credentials, endpoints with their subscriptions
and signing secrets, the messages, the durable delivery queue and its log, the inbound
messages already accepted and the portal's sessions.

The queue is ``deliveries``: one row per (message, endpoint), written in the same transaction
as the consumer's dedupe claim of the event it came from, so no event is lost or queued twice.
A dispatcher claims due rows by leasing them (``leased_until``); a replica killed mid-attempt
leaves a lease that runs out, and the row is attempted again: at least once, never lost.
Every attempt is a row of ``attempts`` (the delivery log).

Secrets that must be read back (signing secrets, Ed25519 private keys, inbound keys) are
stored encrypted (``WEBHOOKS_SECRETS_KEY``, :mod:`.service.secrets`); the portal key, which is
only compared, is stored as its SHA-256 (it is 32 random bytes: no password hashing needed).

They derive from :class:`WebhooksTable`, whose MetaData is webhooks' own (ADR 0002).
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
    Index,
    Integer,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from kit.audit import AuditRecord
from kit.bus.outbox import OutboxMessage, OutboxSequence, ProcessedEvent
from kit.db import UTCDateTime, utcnow
from kit.db.metadata import service_registry
from kit.ids import new_id

__all__ = [
    "METADATA",
    "Attempt",
    "AuditRecord",
    "Delivery",
    "DeliveryStatus",
    "Endpoint",
    "EndpointSecret",
    "EndpointStatus",
    "InboundMessage",
    "Message",
    "OutboxMessage",
    "OutboxSequence",
    "Partner",
    "PartnerStatus",
    "PortalSession",
    "ProcessedEvent",
    "Signing",
    "WebhooksTable",
]

NAME_MAX = 100
SLUG_MAX = 40
URL_MAX = 2000
HASH_MAX = 64
EXCERPT_MAX = 1000
ERROR_MAX = 500
MESSAGE_ID_MAX = 40

BIG_ID = BigInteger().with_variant(Integer, "sqlite")
"""A 64-bit key that SQLite (``make run``) still numbers by itself."""


class PartnerStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    """Nothing is delivered to it, its inbound webhooks and portal sign-ins are refused."""


class EndpointStatus(enum.StrEnum):
    ENABLED = "enabled"
    DISABLED = "disabled"


class Signing(enum.StrEnum):
    """How an endpoint's deliveries are signed (Standard Webhooks)."""

    HMAC = "hmac"
    """``v1,``: HMAC-SHA256 with the endpoint's ``whsec_`` secret."""
    ED25519 = "ed25519"
    """``v1a,``: Ed25519; the public keys are published at ``/v1/webhook-keys``."""


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    EXHAUSTED = "exhausted"


def _one_of(column: str, values: type[enum.StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(str(value)) for value in values)})"


class WebhooksTable(SQLModel, registry=service_registry()):
    """Base of webhooks' tables: they live in :data:`METADATA`, never in ``SQLModel.metadata``."""


METADATA = WebhooksTable.metadata
"""webhooks' whole schema: its tables and kit's; what its migrations and tests build."""


class Partner(WebhooksTable, table=True):
    """A partner app: who it is, whether it may act, how it signs in and signs inbound."""

    __tablename__ = "partners"
    __table_args__ = (CheckConstraint(_one_of("status", PartnerStatus), name="status_known"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    slug: str = Field(max_length=SLUG_MAX, unique=True)
    """Its name in URLs: ``/v1/partners/inbound/{slug}`` and the portal's sign-in."""
    name: str = Field(max_length=NAME_MAX)
    contact_email: str = Field(max_length=254)
    status: str = Field(default=PartnerStatus.ACTIVE, max_length=20)
    portal_key_hash: str = Field(max_length=HASH_MAX)
    inbound_secret: str = Field(sa_type=Text)
    """Encrypted ``whsec_`` secret that signs the partner's inbound webhooks."""
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Endpoint(WebhooksTable, table=True):
    """Where a partner receives the events it subscribed to, and how that endpoint is doing.

    ``consecutive_failures`` opens the circuit (``paused_until``) after a run of failures;
    a 429 or 503 with ``Retry-After`` pauses it too. ``failing_since`` is the first failure
    after the last success: failing for ``WEBHOOKS_DISABLE_AFTER_SECONDS`` disables it."""

    __tablename__ = "endpoints"
    __table_args__ = (
        CheckConstraint(_one_of("status", EndpointStatus), name="status_known"),
        CheckConstraint(_one_of("signing", Signing), name="signing_known"),
        CheckConstraint("max_in_flight >= 1", name="max_in_flight_positive"),
        CheckConstraint("rate_per_second IS NULL OR rate_per_second >= 1", name="rate_positive"),
        Index("ix_endpoints_partner_id_created_at", "partner_id", "created_at"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    partner_id: uuid.UUID = Field(foreign_key="partners.id")
    url: str = Field(max_length=URL_MAX)
    description: str = Field(default="", max_length=NAME_MAX)
    event_types: list[Any] = Field(sa_column=Column(JSON, nullable=False))
    """Patterns: ``referrals.funnel.*``, an exact type, or ``*`` for every partner event."""
    signing: str = Field(default=Signing.HMAC, max_length=20)
    ordered: bool = False
    """Messages of one subject are delivered in order: the next waits for the previous."""
    max_in_flight: int = 10
    rate_per_second: int | None = None
    status: str = Field(default=EndpointStatus.ENABLED, max_length=20)
    disabled_reason: str | None = Field(default=None, max_length=20)
    disabled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    consecutive_failures: int = 0
    failing_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    paused_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_success_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class EndpointSecret(WebhooksTable, table=True):
    """A key that signs an endpoint's deliveries. After a rotation the old one keeps signing
    until ``retires_at`` (both signatures are sent), so the partner can switch without a gap."""

    __tablename__ = "endpoint_secrets"
    __table_args__ = (
        CheckConstraint(_one_of("kind", Signing), name="kind_known"),
        Index("ix_endpoint_secrets_endpoint_id_created_at", "endpoint_id", "created_at"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    endpoint_id: uuid.UUID = Field(foreign_key="endpoints.id")
    kind: str = Field(max_length=20)
    secret: str = Field(sa_type=Text)
    """Encrypted: the ``whsec_`` secret, or the Ed25519 private key's seed."""
    public_key: str | None = Field(default=None, max_length=HASH_MAX)
    """Ed25519: the raw public key, base64url (the key set's ``x``)."""
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    retires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Message(WebhooksTable, table=True):
    """One webhook as partners receive it: its ``webhook-id`` and the exact body signed.

    ``event_id`` is the CloudEvent it carries (``None`` for a test event); ``partner_id``
    limits a message to one partner (test events and webhooks' own events)."""

    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_created_at", "created_at"),)

    id: str = Field(primary_key=True, max_length=MESSAGE_ID_MAX)
    event_id: str | None = Field(default=None, max_length=100, unique=True)
    event_type: str = Field(max_length=200)
    subject: str = Field(max_length=200)
    partner_id: uuid.UUID | None = None
    body: str = Field(sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Delivery(WebhooksTable, table=True):
    """A message on its way to one endpoint: the durable queue (see the module docstring).

    ``id`` grows with every row, which is the order of an ordered endpoint's messages of one
    ``ordering_key`` (the subject); unordered endpoints leave the key empty."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("message_id", "endpoint_id"),
        CheckConstraint(_one_of("status", DeliveryStatus), name="status_known"),
        Index("ix_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_deliveries_endpoint_id_status_id", "endpoint_id", "status", "id"),
        Index("ix_deliveries_endpoint_id_claimed_at", "endpoint_id", "claimed_at"),
    )

    id: int | None = Field(default=None, sa_column=Column(BIG_ID, primary_key=True))
    message_id: str = Field(foreign_key="messages.id", max_length=MESSAGE_ID_MAX)
    endpoint_id: uuid.UUID = Field(foreign_key="endpoints.id")
    status: str = Field(default=DeliveryStatus.PENDING, max_length=20)
    ordering_key: str | None = Field(default=None, max_length=200)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    leased_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_status: int | None = None
    succeeded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Attempt(WebhooksTable, table=True):
    """One try of a delivery: the delivery log."""

    __tablename__ = "attempts"
    __table_args__ = (
        Index("ix_attempts_endpoint_id_id", "endpoint_id", "id"),
        Index("ix_attempts_delivery_id_id", "delivery_id", "id"),
    )

    id: int | None = Field(default=None, sa_column=Column(BIG_ID, primary_key=True))
    delivery_id: int = Field(sa_type=BigInteger)
    endpoint_id: uuid.UUID
    message_id: str = Field(max_length=MESSAGE_ID_MAX)
    attempt: int
    started_at: datetime = Field(sa_type=UTCDateTime)
    duration_ms: int
    succeeded: bool
    status_code: int | None = None
    error: str | None = Field(default=None, max_length=ERROR_MAX)
    response_excerpt: str = Field(default="", max_length=EXCERPT_MAX)
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class InboundMessage(WebhooksTable, table=True):
    """An inbound webhook already accepted: its ``webhook-id`` is not accepted twice."""

    __tablename__ = "inbound_messages"

    partner_id: uuid.UUID = Field(primary_key=True)
    webhook_id: str = Field(primary_key=True, max_length=100)
    body_hash: str = Field(max_length=HASH_MAX)
    event_type: str = Field(max_length=200)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PortalSession(WebhooksTable, table=True):
    """A partner signed in to the portal: the cookie holds the token, this row its SHA-256."""

    __tablename__ = "portal_sessions"

    token_hash: str = Field(primary_key=True, max_length=HASH_MAX)
    partner_id: uuid.UUID = Field(foreign_key="partners.id")
    csrf_token: str = Field(max_length=HASH_MAX)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
