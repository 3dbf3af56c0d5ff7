"""The outbox relay against a real PostgreSQL and a real Kafka broker."""

import asyncio
import uuid

from sqlalchemy import func, select
from sqlmodel import col

from kit.bus.envelope import Envelope
from kit.bus.outbox import OutboxMessage, publish
from kit.bus.relay import OutboxRelay
from kit.bus.tests.conftest import make_payload_type
from kit.db import Database
from kit.testing.kafka import read_topic


async def _pending(database: Database) -> int:
    async with database.transaction() as session:
        query = select(func.count()).where(col(OutboxMessage.published_at).is_(None))
        return int(await session.scalar(query) or 0)


async def _wait_until_drained(database: Database, timeout: float = 20) -> None:
    async with asyncio.timeout(timeout):
        while await _pending(database):
            await asyncio.sleep(0.05)


async def test_committed_events_are_published_once_in_order(
    database: Database, kafka_bootstrap: str, topic_name: str
) -> None:
    model = make_payload_type(topic_name)
    relay = OutboxRelay(database=database, bootstrap_servers=kafka_bootstrap, service="test")
    subject = uuid.uuid4()
    await relay.start()
    try:
        for n in range(5):
            async with database.transaction() as session:
                publish(session, model(ping_id=subject, note=f"n{n}"), source="test")
        await _wait_until_drained(database)
        await relay.check()
    finally:
        await relay.stop()
    records = await read_topic(kafka_bootstrap, topic_name, expect=5)
    envelopes = [Envelope.from_record(r.key, r.value, list(r.headers)) for r in records]
    assert [e.data["note"] for e in envelopes] == ["n0", "n1", "n2", "n3", "n4"]
    assert {r.key for r in records} == {str(subject).encode()}
    assert len({e.id for e in envelopes}) == 5


async def test_a_rolled_back_transaction_publishes_nothing(
    database: Database, kafka_bootstrap: str, topic_name: str
) -> None:
    model = make_payload_type(topic_name)
    relay = OutboxRelay(database=database, bootstrap_servers=kafka_bootstrap, service="test")
    await relay.start()
    try:
        try:
            async with database.transaction() as session:
                publish(session, model(ping_id=uuid.uuid4(), note="doomed"), source="test")
                raise RuntimeError("the domain change failed")
        except RuntimeError:
            pass
        async with database.transaction() as session:
            publish(session, model(ping_id=uuid.uuid4(), note="kept"), source="test")
        await _wait_until_drained(database)
    finally:
        await relay.stop()
    records = await read_topic(kafka_bootstrap, topic_name, expect=1)
    assert [
        Envelope.from_record(r.key, r.value, list(r.headers)).data["note"] for r in records
    ] == ["kept"]


async def test_kafka_outage_keeps_events_and_heals(
    database: Database, kafka_bootstrap: str, topic_name: str
) -> None:
    """With the broker unreachable the rows wait and readiness fails; then they flow."""
    model = make_payload_type(topic_name)
    dead_port = "127.0.0.1:1"
    down = OutboxRelay(database=database, bootstrap_servers=dead_port, service="test")
    await down.start()
    try:
        async with database.transaction() as session:
            publish(session, model(ping_id=uuid.uuid4(), note="waited"), source="test")
        await asyncio.sleep(1.5)
        assert await _pending(database) == 1
        try:
            await down.check()
            raise AssertionError("the relay claims to be healthy without a broker")
        except ConnectionError:
            pass
    finally:
        await down.stop()
    up = OutboxRelay(database=database, bootstrap_servers=kafka_bootstrap, service="test")
    await up.start()
    try:
        await _wait_until_drained(database)
        await up.check()
    finally:
        await up.stop()
    records = await read_topic(kafka_bootstrap, topic_name, expect=1)
    assert len(records) == 1
