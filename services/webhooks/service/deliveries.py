"""The delivery log and what can be done with it: an endpoint's deliveries and each one's
attempts, replaying one message, every exhausted one or a time range, and the test event.

A replay puts the delivery back in the queue, due now, with the same ``webhook-id`` (the
partner dedupes on it): it is attempted once more and, failing, retried along what is left of
the schedule (an exhausted one is exhausted again after that one attempt).
"""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from kit.api.pagination import Keyset, Order, PageParams
from kit.problems import NotFound
from services.webhooks.models import Attempt, Delivery, DeliveryStatus, Endpoint, Message
from services.webhooks.service.event_types import test_envelope
from services.webhooks.service.fanout import queue, wake_dispatcher_after_commit

NEWEST_DELIVERIES = Keyset(Order(col(Delivery.id), descending=True))
NEWEST_ATTEMPTS = Keyset(Order(col(Attempt.id), descending=True))


class MessageNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("no such message at this endpoint")


async def listing(
    *,
    session: AsyncSession,
    endpoint_id: uuid.UUID,
    page: PageParams,
    status: DeliveryStatus | None = None,
) -> tuple[list[Any], str | None]:
    """The endpoint's deliveries, newest first, each with its message's type."""
    query: Select[Delivery, str] = (
        select(Delivery, col(Message.event_type))
        .join(Message, col(Message.id) == Delivery.message_id)
        .where(col(Delivery.endpoint_id) == endpoint_id)
    )
    if status is not None:
        query = query.where(col(Delivery.status) == status)
    rows = (await session.execute(NEWEST_DELIVERIES.paged(query, page))).all()
    return NEWEST_DELIVERIES.page(rows, page, lambda row: (row[0].id,))


async def attempts(
    *,
    session: AsyncSession,
    endpoint_id: uuid.UUID,
    page: PageParams,
    message_id: str | None = None,
) -> tuple[list[Attempt], str | None]:
    """The endpoint's attempts (of one message, or all), newest first: the delivery log."""
    query = select(Attempt).where(col(Attempt.endpoint_id) == endpoint_id)
    if message_id is not None:
        query = query.where(col(Attempt.message_id) == message_id)
    rows = (await session.scalars(NEWEST_ATTEMPTS.paged(query, page))).all()
    return NEWEST_ATTEMPTS.page(rows, page, lambda attempt: (attempt.id,))


async def delivery(*, session: AsyncSession, endpoint_id: uuid.UUID, message_id: str) -> Delivery:
    found: Delivery | None = await session.scalar(
        select(Delivery).where(
            col(Delivery.endpoint_id) == endpoint_id, col(Delivery.message_id) == message_id
        )
    )
    if found is None:
        raise MessageNotFound()
    return found


async def message(*, session: AsyncSession, message_id: str) -> Message:
    found = await session.get(Message, message_id)
    if found is None:
        raise MessageNotFound()
    return found


async def replay(
    *,
    session: AsyncSession,
    endpoint_id: uuid.UUID,
    now: datetime,
    message_id: str | None = None,
    exhausted_only: bool = False,
    since: datetime | None = None,
    until: datetime | None = None,
) -> int:
    """Queue again the endpoint's deliveries that match: one message, the exhausted ones,
    and/or those whose message was created in ``[since, until)``; the number queued."""
    statement = update(Delivery).where(col(Delivery.endpoint_id) == endpoint_id)
    if message_id is not None:
        statement = statement.where(col(Delivery.message_id) == message_id)
    if exhausted_only:
        statement = statement.where(col(Delivery.status) == DeliveryStatus.EXHAUSTED)
    if since is not None or until is not None:
        created = select(col(Message.id))
        if since is not None:
            created = created.where(col(Message.created_at) >= since)
        if until is not None:
            created = created.where(col(Message.created_at) < until)
        statement = statement.where(col(Delivery.message_id).in_(created))
    result = await session.execute(
        statement.values(
            status=DeliveryStatus.PENDING,
            next_attempt_at=now,
            leased_until=None,
            updated_at=now,
        )
    )
    count: int = result.rowcount  # type: ignore[attr-defined]
    if count:
        wake_dispatcher_after_commit(session=session)
    return count


async def send_test(*, session: AsyncSession, endpoint: Endpoint, now: datetime) -> str:
    """Queue a ``webhooks.test.v1`` message to ``endpoint``; its message id."""
    envelope = test_envelope(endpoint_id=str(endpoint.id), now=now)
    return await queue(
        session=session,
        envelope=envelope,
        targets=[(endpoint.id, False)],
        partner_id=endpoint.partner_id,
        event_id=None,
        now=now,
    )
