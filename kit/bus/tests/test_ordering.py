"""Order per aggregate: sequences follow commit order, and several relays publishing one
outbox deliver each aggregate's events in that order (real PostgreSQL and Kafka)."""

import asyncio
import random
import uuid
from collections import defaultdict
from pathlib import Path

from sqlalchemy import select
from sqlmodel import col

from kit.bus.envelope import Envelope
from kit.bus.kafka import KafkaConnection
from kit.bus.outbox import OutboxMessage, publish
from kit.bus.relay import OutboxRelay
from kit.bus.tests.conftest import OUTBOX_MODELS, Pinged, make_payload_type
from kit.db import KIT_METADATA, Database
from kit.testing.kafka import read_topic
from kit.testing.services import wait_until_published

TABLES = [model.__table__ for model in OUTBOX_MODELS]  # type: ignore[attr-defined]


async def _sequences(database: Database, key: str) -> list[tuple[str, int | None]]:
    query = (
        select(OutboxMessage)
        .where(col(OutboxMessage.key) == key)
        .order_by(col(OutboxMessage.position))
    )
    async with database.reading() as session:
        return [(row.data["note"], row.sequence) for row in (await session.scalars(query)).all()]


async def test_a_later_commit_gets_the_later_sequence(database: Database, topic_name: str) -> None:
    """T1 publishes first but commits last: T2 waits for T1's commit and comes after it."""
    model = make_payload_type(topic_name)
    subject = uuid.uuid4()
    first_flushed = asyncio.Event()
    first_may_commit = asyncio.Event()

    async def first() -> None:
        async with database.transaction() as session:
            publish(session, model(ping_id=subject, note="first"), actor=None)
            await session.flush()
            first_flushed.set()
            await first_may_commit.wait()

    async def second() -> None:
        await first_flushed.wait()
        async with database.transaction() as session:
            publish(session, model(ping_id=subject, note="second"), actor=None)
            await session.flush()  # blocks on the aggregate's sequence until T1 ends

    first_task = asyncio.create_task(first())
    second_task = asyncio.create_task(second())
    await first_flushed.wait()
    await asyncio.sleep(0.5)
    assert not second_task.done(), "T2 numbered its event while T1 still held the aggregate"
    first_may_commit.set()
    await asyncio.gather(first_task, second_task)
    assert await _sequences(database, str(subject)) == [("first", 1), ("second", 2)]


async def test_rows_keep_the_order_on_sqlite(tmp_path: Path, topic_name: str) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'outbox.db'}", service="test")
    async with database.engine.begin() as connection:
        await connection.run_sync(KIT_METADATA.create_all, tables=TABLES)
    model = make_payload_type(topic_name)
    subjects = [uuid.uuid4(), uuid.uuid4()]
    try:
        for n in range(3):
            async with database.transaction() as session:
                for subject in subjects:
                    publish(session, model(ping_id=subject, note=f"n{n}"), actor=None)
        for subject in subjects:
            assert await _sequences(database, str(subject)) == [("n0", 1), ("n1", 2), ("n2", 3)]
    finally:
        await database.dispose()


async def test_three_relays_deliver_every_aggregate_in_commit_order(
    database: Database, kafka_bootstrap: str, topic_name: str
) -> None:
    """Writers publish about a few aggregates at once while three relays share the outbox:
    on Kafka, every aggregate's events are 1, 2, 3, ... exactly once, in commit order."""
    model = make_payload_type(topic_name)
    subjects = [uuid.uuid4() for _ in range(6)]
    per_writer, writers = 25, 8
    relays = [
        OutboxRelay(database=database, kafka=KafkaConnection(kafka_bootstrap), service=f"test-{n}")
        for n in range(3)
    ]
    for relay in relays:
        await relay.start()
    try:
        await asyncio.gather(
            *(_write(database, model, subjects, per_writer) for _ in range(writers))
        )
        await wait_until_published(database)
    finally:
        for relay in relays:
            await relay.stop()
    records = await read_topic(kafka_bootstrap, topic_name, expect=per_writer * writers)
    delivered: dict[str, list[int | None]] = defaultdict(list)
    for record in records:
        envelope = Envelope.from_record(record.key, record.value, list(record.headers))
        delivered[envelope.subject].append(envelope.sequence)
    assert sum(len(sequences) for sequences in delivered.values()) == per_writer * writers
    for subject in subjects:
        committed = [sequence for _, sequence in await _sequences(database, str(subject))]
        assert committed == list(range(1, len(committed) + 1))
        assert delivered[str(subject)] == committed


async def _write(
    database: Database, model: type[Pinged], subjects: list[uuid.UUID], count: int
) -> None:
    for n in range(count):
        async with database.transaction() as session:
            subject = random.choice(subjects)
            publish(session, model(ping_id=subject, note=f"n{n}"), actor=None)
            await session.flush()
            await asyncio.sleep(random.random() / 100)  # hold the aggregate a while
