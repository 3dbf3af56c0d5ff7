"""Fixtures for the bus tests: a real PostgreSQL database with the outbox tables, a
real Kafka broker, a throwaway payload type on a topic of its own, and a reader."""

import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import text

from contracts.catalog import Payload, Topic
from kit.bus.outbox import OutboxMessage, OutboxSequence, ProcessedEvent
from kit.db import KIT_METADATA, Database, KitTable

OUTBOX_MODELS: tuple[type[KitTable], ...] = (OutboxMessage, OutboxSequence, ProcessedEvent)
"""The tables a service's outbox and consumers need."""


class Pinged(Payload):
    """A test-only event: not in the catalog, so the AsyncAPI document ignores it."""

    ping_id: uuid.UUID
    note: str


def make_payload_type(topic_name: str) -> type[Pinged]:
    attributes = {
        "__module__": __name__,
        "event_type": "test.pinged.v1",
        "topic": Topic(name=topic_name, description="test", partitions=1),
        "subject_field": "ping_id",
    }
    model: type[Pinged] = type(f"Pinged_{uuid.uuid4().hex[:6]}", (Pinged,), attributes)
    return model


@pytest.fixture
def topic_name() -> str:
    return f"test.pings.{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def database(postgres_database_factory: Callable[[str], str]) -> AsyncIterator[Database]:
    database = Database(postgres_database_factory("bus"), service="test")
    tables = [model.__table__ for model in OUTBOX_MODELS]  # type: ignore[attr-defined]
    async with database.engine.begin() as connection:
        await connection.run_sync(KIT_METADATA.create_all, tables=tables)
        await connection.execute(
            text("CREATE TABLE effects (ping_id uuid NOT NULL, note text NOT NULL)")
        )
    yield database
    await database.dispose()


async def count_effects(database: Database) -> int:
    async with database.engine.connect() as connection:
        return int((await connection.execute(text("SELECT count(*) FROM effects"))).scalar_one())
