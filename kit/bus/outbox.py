"""The transactional outbox: events are rows written in the same transaction as the
domain change that caused them, and published by :class:`kit.bus.relay.OutboxRelay`.

A service calls :func:`publish` inside its unit of work and never talks to Kafka on
the request path. Every event names its actor, the user whose action caused it (or
``None`` when the system acted on its own); it travels as the CloudEvents auth context
(``authtype``/``authid``). The source is the service that owns the database.

Nothing committed is lost: a row stays until the relay has Kafka's acknowledgement, and a
crash in between means a duplicate at worst (consumers dedupe on the event id).

Order per aggregate (ADR 0003): a trigger on ``outbox`` (:data:`ORDERING_DDL`, installed by
each service's migrations and by ``create_all``) gives every row, as it is inserted, the
next ``sequence`` of its ``(topic, key)`` from ``outbox_sequences``, a global ``position``
and a ``lane`` (a hash of the key). Taking the sequence locks that aggregate's counter row
until the transaction ends, so two transactions publishing about one aggregate are
serialized: sequence order is commit order, and ``position`` follows it. Whatever way a
row is written (ORM, or SQL as the signup rush does), it is ordered the same way.
"""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DDL, JSON, BigInteger, Column, Connection, Index, SmallInteger, event, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field

from contracts.catalog import Payload
from kit.db import AFTER_CREATE_KEY, KitTable, UTCDateTime, after_commit, service_of, utcnow
from kit.ids import new_id

OUTBOX_WAKE_KEY = "paddock.outbox_wake"


class OutboxMessage(KitTable, table=True):
    """An event waiting to be published (``published_at`` is null until Kafka acks)."""

    __tablename__ = "outbox"
    __table_args__ = (
        # Only unsent rows, in publication order: what relays read, and small however long
        # published rows are kept.
        Index(
            "ix_outbox_pending",
            "position",
            postgresql_where=text("published_at IS NULL"),
            sqlite_where=text("published_at IS NULL"),
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    topic: str = Field(max_length=200)
    key: str = Field(max_length=200)
    type: str = Field(max_length=200)
    source: str = Field(max_length=200)
    actor_id: uuid.UUID | None = Field(default=None, description="who caused the event")
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    published_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sequence: int | None = Field(
        default=None, sa_type=BigInteger, description="1, 2, ... per (topic, key), set on insert"
    )
    position: int | None = Field(
        default=None, sa_type=BigInteger, description="publication order, set on insert"
    )
    lane: int | None = Field(
        default=None, sa_type=SmallInteger, description="which relay lock covers the row"
    )


class OutboxSequence(KitTable, table=True):
    """The last sequence number given to an aggregate's events on one topic."""

    __tablename__ = "outbox_sequences"

    topic: str = Field(primary_key=True, max_length=200)
    key: str = Field(primary_key=True, max_length=200)
    last: int = Field(sa_type=BigInteger)


LANES = 32
"""Relays lock lanes, not rows (``lane = hashtext(key) & 31``). Fixed for good: rows of one
aggregate must never sit in two lanes."""

ORDERING_DDL: dict[str, tuple[str, ...]] = {
    "postgresql": (
        "CREATE SEQUENCE outbox_position",
        "SELECT setval('outbox_position', "
        "(SELECT coalesce(max(position), 0) + 1 FROM outbox), false)",
        """CREATE FUNCTION outbox_order() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO outbox_sequences AS counter (topic, key, last)
    VALUES (NEW.topic, NEW.key, 1)
    ON CONFLICT (topic, key) DO UPDATE SET last = counter.last + 1
    RETURNING counter.last INTO NEW.sequence;
    NEW.position := nextval('outbox_position');
    NEW.lane := hashtext(NEW.key) & 31;
    RETURN NEW;
END $$""",
        "CREATE TRIGGER outbox_order BEFORE INSERT ON outbox "
        "FOR EACH ROW EXECUTE FUNCTION outbox_order()",
    ),
    # SQLite has one writer at a time: any order within a transaction is commit order.
    "sqlite": (
        """CREATE TRIGGER outbox_order AFTER INSERT ON outbox FOR EACH ROW BEGIN
    INSERT INTO outbox_sequences (topic, key, last) VALUES (NEW.topic, NEW.key, 1)
    ON CONFLICT (topic, key) DO UPDATE SET last = last + 1;
    UPDATE outbox SET
        sequence = (SELECT last FROM outbox_sequences
                    WHERE topic = NEW.topic AND key = NEW.key),
        position = (SELECT coalesce(max(position), 0) + 1 FROM outbox),
        lane = 0
    WHERE id = NEW.id;
END""",
    ),
}
"""What orders the outbox, per dialect (the migrations run it; so does ``create_all``)."""

UNORDERING_DDL: dict[str, tuple[str, ...]] = {
    "postgresql": (
        "DROP TRIGGER outbox_order ON outbox",
        "DROP FUNCTION outbox_order()",
        "DROP SEQUENCE outbox_position",
    ),
    "sqlite": ("DROP TRIGGER outbox_order",),
}

_NUMBER_EXISTING = (
    """UPDATE outbox SET position = numbered.position, sequence = numbered.sequence
FROM (SELECT id,
             row_number() OVER (ORDER BY created_at, id) AS position,
             row_number() OVER (PARTITION BY topic, key ORDER BY created_at, id) AS sequence
      FROM outbox) AS numbered
WHERE outbox.id = numbered.id""",
    "INSERT INTO outbox_sequences (topic, key, last) "
    "SELECT topic, key, max(sequence) FROM outbox GROUP BY topic, key",
)
ORDER_EXISTING: dict[str, tuple[str, ...]] = {
    "postgresql": (*_NUMBER_EXISTING, "UPDATE outbox SET lane = hashtext(key) & 31"),
    "sqlite": (*_NUMBER_EXISTING, "UPDATE outbox SET lane = 0"),
}
"""Numbers the rows written before the outbox was ordered, oldest first."""


def order_outbox(connection: Connection) -> None:
    """The migration step that orders an existing outbox: number its rows, then install
    the trigger that numbers every new one (``connection`` is Alembic's ``op.get_bind()``)."""
    dialect = connection.dialect.name
    for statement in (*ORDER_EXISTING[dialect], *ORDERING_DDL[dialect]):
        connection.execute(text(statement))


def unorder_outbox(connection: Connection) -> None:
    """Undo :func:`order_outbox` (the columns and ``outbox_sequences`` are the migration's)."""
    for statement in UNORDERING_DDL[connection.dialect.name]:
        connection.execute(text(statement))


def _order_on_create() -> None:
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    table.info[AFTER_CREATE_KEY] = [
        DDL(statement).execute_if(dialect=dialect)
        for dialect, statements in ORDERING_DDL.items()
        for statement in statements
    ]
    for statement in table.info[AFTER_CREATE_KEY]:
        event.listen(table, "after_create", statement)


_order_on_create()


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
