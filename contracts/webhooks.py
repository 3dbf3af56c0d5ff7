"""Events published by webhooks on ``webhooks.endpoints`` and ``webhooks.messages``.

* ``webhooks.endpoints`` (keyed by endpoint id): an endpoint that kept failing was disabled
  (no more deliveries until an admin or its partner enables it again), or was enabled again.
* ``webhooks.messages`` (keyed by endpoint id): a message was exhausted at an endpoint, every
  attempt of the retry schedule failed; it stays in the delivery log and can be replayed.

Partners may subscribe to these too: they are delivered to the partner's own endpoints only.
"""

from datetime import datetime
from typing import Literal
from uuid import UUID

from contracts.catalog import Payload, event, topic

WEBHOOKS_ENDPOINTS = topic(
    "webhooks.endpoints",
    "Partner webhook endpoints disabled after failing, or enabled again (keyed by endpoint id)",
)
WEBHOOKS_MESSAGES = topic(
    "webhooks.messages",
    "Webhook messages every attempt of the retry schedule failed to deliver (keyed by endpoint id)",
)


DisabledReason = Literal["failing", "admin", "partner"]
"""Who stopped the endpoint: the dispatcher after it kept failing, an admin, its partner."""


class EndpointEvent(Payload):
    partner_id: UUID
    endpoint_id: UUID
    url: str


@event("webhooks.endpoint.disabled.v1", topic=WEBHOOKS_ENDPOINTS, subject="endpoint_id")
class EndpointDisabled(EndpointEvent):
    """The endpoint failed without a success since ``failing_since``: nothing more is sent."""

    reason: DisabledReason
    failing_since: datetime | None = None
    disabled_at: datetime


@event("webhooks.endpoint.enabled.v1", topic=WEBHOOKS_ENDPOINTS, subject="endpoint_id")
class EndpointEnabled(EndpointEvent):
    """The endpoint takes deliveries again (those still pending are sent)."""

    enabled_at: datetime


@event("webhooks.message.exhausted.v1", topic=WEBHOOKS_MESSAGES, subject="endpoint_id")
class MessageExhausted(EndpointEvent):
    """Every scheduled attempt to deliver the message to the endpoint failed."""

    message_id: str
    """The ``webhook-id`` the partner saw on every attempt."""
    message_type: str
    """The event type of the message."""
    attempts: int
    last_status: int | None = None
    exhausted_at: datetime
