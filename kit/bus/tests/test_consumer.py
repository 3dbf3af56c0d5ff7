"""Idempotent consumers, dead letters and replay, on a real Kafka and PostgreSQL."""

import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from kit.bus.consumer import EventConsumer
from kit.bus.dlq import list_dead_letters, replay
from kit.bus.envelope import Envelope
from kit.bus.kafka import KafkaConnection
from kit.bus.tests.conftest import Pinged, count_effects, make_payload_type
from kit.db import Database
from kit.testing.kafka import read_topic
from kit.testing.waiting import eventually

OUTCOMES = ("handled", "duplicate", "ignored", "dead-lettered")


class Switch:
    """Lets a test break the handler, then 'deploy the fix'."""

    broken = False


async def record_effect(session: AsyncSession, payload: Pinged, _: Envelope) -> None:
    if Switch.broken and payload.note == "poison":
        raise RuntimeError("handler bug on poison")
    await session.execute(
        text("INSERT INTO effects (ping_id, note) VALUES (:id, :note)"),
        {"id": payload.ping_id, "note": payload.note},
    )


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    yield producer
    await producer.stop()


@pytest.fixture
async def consumer(
    database: Database, kafka_bootstrap: str, topic_name: str
) -> AsyncIterator[EventConsumer]:
    Switch.broken = False
    consumer = EventConsumer(
        name=f"effects-{uuid.uuid4().hex[:6]}",
        service="test",
        database=database,
        kafka=KafkaConnection(kafka_bootstrap),
        handlers={make_payload_type(topic_name): record_effect},
        retry_backoff=0.01,
    )
    await consumer.start()
    yield consumer
    await consumer.stop()


async def send(producer: AIOKafkaProducer, topic: str, envelope: Envelope) -> None:
    key, value, headers = envelope.to_record()
    await producer.send_and_wait(topic, value=value, key=key, headers=headers)


def ping(note: str) -> Envelope:
    ping_id = uuid.uuid4()
    return Envelope(
        type="test.pinged.v1",
        source="test",
        subject=str(ping_id),
        data={"ping_id": str(ping_id), "note": note},
    )


async def wait_for_effects(database: Database, expected: int) -> None:
    async def reached() -> bool:
        return await count_effects(database) >= expected

    await eventually(reached, timeout=30, message=f"fewer than {expected} effects")


def outcomes(consumer: EventConsumer) -> dict[str, int]:
    """How many records ``consumer`` finished, by outcome (its Prometheus counter)."""
    labels = {"service": consumer.service, "consumer": consumer.consumer_name}
    values = {
        outcome: REGISTRY.get_sample_value(
            "paddock_consumer_events_total", {**labels, "outcome": outcome}
        )
        for outcome in OUTCOMES
    }
    return {outcome: int(value) for outcome, value in values.items() if value}


async def records_on(bootstrap: str, producer: AIOKafkaProducer, topic: str) -> int:
    """How many records ``topic`` holds: its partitions' end offsets (no transactions here)."""
    partitions = await producer.partitions_for(topic)
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await reader.start()
    try:
        ends = await reader.end_offsets([TopicPartition(topic, p) for p in partitions])
    finally:
        await reader.stop()
    return sum(ends.values())


async def wait_until_caught_up(
    consumer: EventConsumer, producer: AIOKafkaProducer, topic: str
) -> None:
    """Until ``consumer`` has finished (committed to the database, then counted) every record
    on ``topic``: the positive sign that whatever it was going to do has been done."""
    total = await records_on(consumer.kafka.bootstrap_servers, producer, topic)
    assert total > 0, f"{topic} is empty: nothing to wait for"
    await eventually(
        lambda: sum(outcomes(consumer).values()) >= total,
        timeout=30,
        message=lambda: f"{consumer.name} finished {outcomes(consumer)} of {total} records",
    )


async def test_the_same_event_twice_has_one_effect(
    consumer: EventConsumer, producer: AIOKafkaProducer, database: Database, topic_name: str
) -> None:
    twice = ping("once")
    await send(producer, topic_name, twice)
    await send(producer, topic_name, twice)
    await wait_until_caught_up(consumer, producer, topic_name)
    assert outcomes(consumer) == {"handled": 1, "duplicate": 1}
    assert await count_effects(database) == 1
    await consumer.check()


async def test_redelivery_after_a_crash_is_a_no_op(
    consumer: EventConsumer, database: Database, topic_name: str
) -> None:
    """The claim row commits with the effect, so applying again changes nothing."""
    envelope = ping("again")
    model, handler = consumer.handlers["test.pinged.v1"]
    payload = model.model_validate(envelope.data)
    assert await consumer.apply(envelope, payload, handler) == "handled"
    assert await consumer.apply(envelope, payload, handler) == "duplicate"
    assert await count_effects(database) == 1


async def test_poison_goes_to_the_dlq_and_replays_after_the_fix(
    consumer: EventConsumer,
    producer: AIOKafkaProducer,
    database: Database,
    kafka_bootstrap: str,
    topic_name: str,
) -> None:
    Switch.broken = True
    await send(producer, topic_name, ping("poison"))
    await send(producer, topic_name, ping("healthy"))
    await wait_for_effects(database, 1)
    dead = await read_topic(kafka_bootstrap, f"{topic_name}.dlq", expect=1)
    assert len(dead) == 1
    letters = await list_dead_letters(KafkaConnection(kafka_bootstrap), topic_name)
    assert [letter.reason for letter in letters] == [
        "handler failed: RuntimeError: handler bug on poison"
    ]

    Switch.broken = False
    assert await replay(KafkaConnection(kafka_bootstrap), topic_name) == 1
    assert await replay(KafkaConnection(kafka_bootstrap), topic_name) == 0
    await wait_until_caught_up(consumer, producer, topic_name)  # poison, healthy, replayed
    assert outcomes(consumer) == {"dead-lettered": 1, "handled": 2}
    assert await count_effects(database) == 2


async def test_undecodable_records_are_dead_lettered_at_once(
    consumer: EventConsumer,
    producer: AIOKafkaProducer,
    database: Database,
    kafka_bootstrap: str,
    topic_name: str,
) -> None:
    await producer.send_and_wait(topic_name, value=b"not json", key=b"k")
    bad_payload = Envelope(type="test.pinged.v1", source="t", subject="s", data={"nope": 1})
    await send(producer, topic_name, bad_payload)
    await send(producer, topic_name, ping("after"))
    await wait_until_caught_up(consumer, producer, topic_name)
    assert outcomes(consumer) == {"dead-lettered": 2, "handled": 1}
    assert await count_effects(database) == 1
    dead = await read_topic(kafka_bootstrap, f"{topic_name}.dlq", expect=2)
    reasons = [dict(record.headers)["paddock_dlq_reason"].decode() for record in dead]
    assert reasons[0].startswith("not a CloudEvent")
    assert reasons[1].startswith("payload does not match")
