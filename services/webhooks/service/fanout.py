"""From the bus to the delivery queue: an event becomes one message and a delivery to every
enabled endpoint, of an active partner, whose subscription matches it.

It runs in the consumer's transaction, beside its dedupe claim (:mod:`kit.bus.consumer`):
the event is queued once, however often Kafka hands it over. Events about a partner's own
endpoints (``webhooks.*``) go to that partner only. A test event is queued the same way,
to the one endpoint it tests.
"""

import uuid
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from kit.bus.envelope import Envelope
from kit.db import after_commit, utcnow
from kit.ids import new_id
from services.webhooks.models import (
    Delivery,
    DeliveryStatus,
    Endpoint,
    EndpointStatus,
    Message,
    Partner,
    PartnerStatus,
)
from services.webhooks.service.event_types import (
    OWN_TOPICS,
    PARTNER_EVENTS,
    cloud_event_body,
    subscribed,
)

WAKE_KEY = "webhooks.dispatcher_wake"
"""In a session's info: what tells the dispatcher new deliveries were committed."""


def new_message_id() -> str:
    """A ``webhook-id``: ``msg_`` and a UUIDv7 (time-ordered, unique)."""
    return f"msg_{new_id().hex}"


async def fan_out(*, session: AsyncSession, envelope: Envelope) -> int:
    """Queue ``envelope`` for every endpoint subscribed to it; the number of deliveries."""
    partner_id = _own_partner(envelope)
    query = (
        select(col(Endpoint.id), col(Endpoint.event_types), col(Endpoint.ordered))
        .join(Partner, col(Partner.id) == Endpoint.partner_id)
        .where(
            col(Endpoint.status) == EndpointStatus.ENABLED,
            col(Partner.status) == PartnerStatus.ACTIVE,
        )
    )
    if partner_id is not None:
        query = query.where(col(Endpoint.partner_id) == partner_id)
    targets = [
        (endpoint_id, ordered)
        for endpoint_id, patterns, ordered in (await session.execute(query)).all()
        if subscribed(patterns, envelope.type)
    ]
    if not targets:
        return 0
    await queue(
        session=session,
        envelope=envelope,
        targets=targets,
        partner_id=partner_id,
        event_id=envelope.id,
        now=utcnow(),
    )
    return len(targets)


async def queue(
    *,
    session: AsyncSession,
    envelope: Envelope,
    targets: list[tuple[uuid.UUID, bool]],
    partner_id: uuid.UUID | None,
    event_id: str | None,
    now: datetime,
) -> str:
    """Write the message of ``envelope`` (the bus event ``event_id``, or none for a test
    event) and its deliveries to ``targets`` (endpoint id, ordered); return the message id."""
    message_id = new_message_id()
    await session.execute(
        insert(Message).values(
            id=message_id,
            event_id=event_id,
            event_type=envelope.type,
            subject=envelope.subject,
            partner_id=partner_id,
            body=cloud_event_body(envelope),
            created_at=now,
        )
    )
    await session.execute(
        insert(Delivery),
        [
            {
                "message_id": message_id,
                "endpoint_id": endpoint_id,
                "status": DeliveryStatus.PENDING,
                "ordering_key": envelope.subject if ordered else None,
                "next_attempt_at": now,
                "created_at": now,
                "updated_at": now,
            }
            for endpoint_id, ordered in targets
        ],
    )
    wake_dispatcher_after_commit(session=session)
    return message_id


def wake_dispatcher_after_commit(*, session: AsyncSession) -> None:
    """Have the dispatcher look for due deliveries right after ``session`` commits."""
    wake = session.info.get(WAKE_KEY)
    if wake is not None:
        after_commit(session, wake)


def _own_partner(envelope: Envelope) -> uuid.UUID | None:
    spec = PARTNER_EVENTS.get(envelope.type)
    if spec is None or spec.topic.name not in OWN_TOPICS:
        return None
    return uuid.UUID(str(envelope.data["partner_id"]))
