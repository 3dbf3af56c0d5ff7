"""The transactional outbox: events are rows written in the same transaction as the
domain change that caused them, and published by :class:`kit.bus.relay.OutboxRelay`.

A service calls :func:`publish` inside its unit of work and never talks to Kafka on
the request path. Every event names its actor, the user whose action caused it (or
``None`` when the system acted on its own); it travels as the CloudEvents auth context
(``authtype``/``authid``). The source is the service that owns the database.

Nothing committed is lost: a row stays until the relay has Kafka's acknowledgement, and a
crash in between means a duplicate at worst (consumers dedupe on the event id).
"""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field

from contracts.catalog import Payload
from kit.db import KitTable, UTCDateTime, after_commit, service_of, utcnow
from kit.ids import new_id

OUTBOX_WAKE_KEY = "paddock.outbox_wake"


class OutboxMessage(KitTable, table=True):
    """An event waiting to be published (``published_at`` is null until Kafka acks)."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "published_at", "id"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    topic: str = Field(max_length=200)
    key: str = Field(max_length=200)
    type: str = Field(max_length=200)
    source: str = Field(max_length=200)
    actor_id: uuid.UUID | None = Field(default=None, description="who caused the event")
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    published_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ProcessedEvent(KitTable, table=True):
    """An event a consumer has handled; its key makes redelivery a no-op."""

    __tablename__ = "processed_events"

    consumer: str = Field(primary_key=True, max_length=100)
    event_id: str = Field(primary_key=True, max_length=100)
    processed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


def publish(session: AsyncSession, payload: Payload, *, actor: uuid.UUID | None) -> OutboxMessage:
    """Stage ``payload`` for publication when (and only if) ``session`` commits.

    ``actor`` is the user whose action caused the event; ``None`` means the system.
    """
    message = OutboxMessage(
        topic=payload.topic.name,
        key=payload.subject(),
        type=payload.event_type,
        source=service_of(session),
        actor_id=actor,
        data=payload.model_dump(mode="json"),
    )
    session.add(message)
    wake_relay_after_commit(session)
    return message


def wake_relay_after_commit(session: AsyncSession) -> None:
    """Have the relay publish right after ``session`` commits (for rows written in SQL)."""
    wake = session.info.get(OUTBOX_WAKE_KEY)
    if wake is not None:
        after_commit(session, wake)
