"""Webhooks' request bodies and responses: partner apps and the credentials shown once,
endpoints and their signing keys, deliveries and attempts (the log), replays, the event
types partners may subscribe to, the Ed25519 key set, the inbound acknowledgement."""

import enum
import uuid
from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import EmailStr, Field, model_validator

from kit.api.schemas import TRIMMED_LINE, PublicModel, StrictBody
from services.webhooks.models import (
    NAME_MAX,
    SLUG_MAX,
    URL_MAX,
    DeliveryStatus,
    EndpointStatus,
    PartnerStatus,
    Signing,
)
from services.webhooks.service.event_types import MAX_PATTERNS

SLUG_PATTERN = rf"^[a-z0-9][a-z0-9-]{{1,{SLUG_MAX - 1}}}$"
PATTERN = r"^(\*|[a-z0-9_]+(\.[a-z0-9_]+)*(\.\*)?)$"
MAX_IN_FLIGHT = 100
MAX_RATE = 1000
MAX_OVERLAP_SECONDS = 7 * 24 * 3600

EventPattern = Annotated[str, Field(pattern=PATTERN, max_length=200)]
"""An event type, a prefix ending in ``.*``, or ``*``."""


# --- partner apps ----------------------------------------------------------------------


class PartnerCreate(StrictBody):
    slug: str = Field(pattern=SLUG_PATTERN, description="its name in URLs: lowercase, digits, -")
    name: str = Field(min_length=1, max_length=NAME_MAX, pattern=TRIMMED_LINE)
    contact_email: EmailStr


class PartnerUpdate(StrictBody):
    name: str | None = Field(default=None, min_length=1, max_length=NAME_MAX, pattern=TRIMMED_LINE)
    contact_email: EmailStr | None = None
    status: PartnerStatus | None = None


class PartnerPublic(PublicModel):
    id: uuid.UUID
    slug: str
    name: str
    contact_email: str
    status: PartnerStatus
    created_at: datetime
    updated_at: datetime


class PartnerCredentialsPublic(PublicModel):
    """The partner and its credentials, shown this once: keep them safe."""

    partner: PartnerPublic
    portal_key: str = Field(description="signs the partner in to the portal")
    inbound_secret: str = Field(description="``whsec_...``: signs the partner's inbound webhooks")


# --- endpoints -------------------------------------------------------------------------


class EndpointCreate(StrictBody):
    url: str = Field(min_length=1, max_length=URL_MAX, description="https, public addresses only")
    description: str = Field(default="", max_length=NAME_MAX)
    event_types: list[EventPattern] = Field(
        min_length=1,
        max_length=MAX_PATTERNS,
        description="event types or patterns: ``referrals.funnel.*``, ``*``",
    )
    signing: Signing = Signing.HMAC
    ordered: bool = Field(default=False, description="deliver the messages of one subject in order")
    max_in_flight: int = Field(default=10, ge=1, le=MAX_IN_FLIGHT)
    rate_per_second: int | None = Field(default=None, ge=1, le=MAX_RATE)


class EndpointUpdate(StrictBody):
    """Only the fields given change; ``rate_per_second: null`` lifts the rate limit."""

    url: str | None = Field(default=None, min_length=1, max_length=URL_MAX)
    description: str | None = Field(default=None, max_length=NAME_MAX)
    event_types: list[EventPattern] | None = Field(
        default=None, min_length=1, max_length=MAX_PATTERNS
    )
    ordered: bool | None = None
    max_in_flight: int | None = Field(default=None, ge=1, le=MAX_IN_FLIGHT)
    rate_per_second: int | None = Field(default=None, ge=1, le=MAX_RATE)


class SigningKeyPublic(PublicModel):
    id: uuid.UUID
    kind: Signing
    public_key: str | None = Field(description="Ed25519: the raw public key, base64url")
    created_at: datetime
    retires_at: datetime | None = Field(description="stops signing then (after a rotation)")


class EndpointPublic(PublicModel):
    id: uuid.UUID
    partner_id: uuid.UUID
    url: str
    description: str
    event_types: list[str]
    signing: Signing
    ordered: bool
    max_in_flight: int
    rate_per_second: int | None
    status: EndpointStatus
    disabled_reason: str | None
    disabled_at: datetime | None
    consecutive_failures: int
    failing_since: datetime | None
    paused_until: datetime | None
    last_success_at: datetime | None
    created_at: datetime
    updated_at: datetime
    keys: list[SigningKeyPublic]


class NewSecretPublic(PublicModel):
    """A new signing key, shown this once."""

    key_id: uuid.UUID
    kind: Signing
    secret: str | None = Field(description="HMAC: the ``whsec_`` secret; null for Ed25519")
    public_key: str | None = Field(description="Ed25519: the public key; null for HMAC")


class EndpointCreatedPublic(PublicModel):
    endpoint: EndpointPublic
    secret: NewSecretPublic


class SecretRotation(StrictBody):
    overlap_seconds: int | None = Field(
        default=None,
        ge=0,
        le=MAX_OVERLAP_SECONDS,
        description="how long the old key keeps signing (default: the service's setting)",
    )
    signing: Signing | None = Field(default=None, description="switch the kind of key")


# --- the log and replays ---------------------------------------------------------------


class DeliveryPublic(PublicModel):
    id: int
    message_id: str = Field(description="the ``webhook-id`` of every attempt")
    endpoint_id: uuid.UUID
    event_type: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None = Field(description="null unless pending")
    last_status: int | None
    succeeded_at: datetime | None
    created_at: datetime


class AttemptPublic(PublicModel):
    id: int
    message_id: str
    attempt: int
    started_at: datetime
    duration_ms: int
    succeeded: bool
    status_code: int | None
    error: str | None
    response_excerpt: str
    next_attempt_at: datetime | None = Field(description="null when no retry follows")


class MessagePublic(PublicModel):
    id: str
    event_id: str | None
    event_type: str
    subject: str
    created_at: datetime
    body: str = Field(description="the CloudEvent (JSON), byte for byte as it is signed and sent")


class ReplayRequest(StrictBody):
    """Which of the endpoint's deliveries to send again: one message, every exhausted one,
    or those whose message was created in ``[since, until)`` (combinable)."""

    message_id: str | None = Field(default=None, max_length=40)
    exhausted_only: bool = False
    since: datetime | None = None
    until: datetime | None = None

    @model_validator(mode="after")
    def _something_chosen(self) -> Self:
        if self.message_id is None and not self.exhausted_only and self.since is None:
            raise ValueError("name a message_id, exhausted_only or since")
        if self.since and self.until and self.until <= self.since:
            raise ValueError("until must be after since")
        return self


class ReplayPublic(PublicModel):
    queued: int = Field(description="deliveries queued again")


class TestEventPublic(PublicModel):
    message_id: str


# --- public documents ------------------------------------------------------------------


class Direction(enum.StrEnum):
    OUTBOUND = "outbound"
    """Paddock sends it to the endpoints subscribed to it."""
    INBOUND = "inbound"
    """Partners post it to ``/v1/partners/inbound/{partner}``."""


class EventTypePublic(PublicModel):
    type: str
    direction: Direction
    topic: str
    description: str
    data_schema: str = Field(description="the JSON Schema of the message's data, as JSON")
    example: str = Field(description="an example body, as JSON, exactly as it is sent or posted")


class EventTypesPublic(PublicModel):
    items: list[EventTypePublic]


class JsonWebKeyPublic(PublicModel):
    kty: Literal["OKP"] = "OKP"
    crv: Literal["Ed25519"] = "Ed25519"
    alg: Literal["EdDSA"] = "EdDSA"
    use: Literal["sig"] = "sig"
    kid: str
    x: str


class KeySetPublic(PublicModel):
    keys: list[JsonWebKeyPublic]


class InboundAcceptedPublic(PublicModel):
    webhook_id: str
    duplicate: bool = Field(description="accepted before: acknowledged again, not published")
