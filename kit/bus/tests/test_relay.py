"""The outbox relay against a real PostgreSQL and a real Kafka broker."""

import asyncio
import uuid

from devstack.kafka import KafkaBroker
from kit.bus.envelope import Envelope
from kit.bus.kafka import KafkaConnection
from kit.bus.outbox import publish
from kit.bus.relay import OutboxRelay
from kit.bus.tests.conftest import make_payload_type
from kit.db import Database
from kit.testing.kafka import read_topic
from kit.testing.services import pending_events, wait_until_published
from kit.testing.waiting import eventually

OUTAGE_TIMEOUT = 30  # generous for a relay whose sends time out after REQUEST_TIMEOUT_MS (10 s)


async def _outage(relay: OutboxRelay) -> str | None:
    """What the relay's readiness check reports: ``None`` when healthy, else the reason."""
    try:
        await relay.check()
    except ConnectionError as exc:
        return str(exc)
    return None


async def test_committed_events_are_published_once_in_order(
    database: Database, kafka_bootstrap: str, topic_name: str
) -> None:
    model = make_payload_type(topic_name)
    relay = OutboxRelay(database=database, kafka=KafkaConnection(kafka_bootstrap), service="test")
    subject = uuid.uuid4()
    await relay.start()
    try:
        for n in range(5):
            async with database.transaction() as session:
                publish(session, model(ping_id=subject, note=f"n{n}"), actor=None)
        await wait_until_published(database)
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
    relay = OutboxRelay(database=database, kafka=KafkaConnection(kafka_bootstrap), service="test")
    await relay.start()
    try:
        try:
            async with database.transaction() as session:
                publish(session, model(ping_id=uuid.uuid4(), note="doomed"), actor=None)
                raise RuntimeError("the domain change failed")
        except RuntimeError:
            pass
        async with database.transaction() as session:
            publish(session, model(ping_id=uuid.uuid4(), note="kept"), actor=None)
        await wait_until_published(database)
    finally:
        await relay.stop()
    records = await read_topic(kafka_bootstrap, topic_name, expect=1)
    assert [
        Envelope.from_record(r.key, r.value, list(r.headers)).data["note"] for r in records
    ] == ["kept"]


async def test_a_relay_that_never_reached_kafka_says_why(
    database: Database, topic_name: str
) -> None:
    relay = OutboxRelay(database=database, kafka=KafkaConnection("127.0.0.1:1"), service="test")
    await relay.start()
    try:

        async def says_why() -> bool:
            return (await _outage(relay) or "not started") != "not started"

        await eventually(says_why, message="the relay never tried Kafka, or hid why it failed")
        assert "KafkaConnectionError" in (await _outage(relay) or "")
    finally:
        await relay.stop()


async def test_kafka_outage_keeps_events_and_heals(
    database: Database, own_broker: KafkaBroker, topic_name: str
) -> None:
    """A healthy relay loses its broker: it reports the outage, the row waits in the
    database, and once the broker is back the same relay publishes it and is ready again."""
    model = make_payload_type(topic_name)
    subject = uuid.uuid4()  # one key, one partition: the order on the topic is the order sent
    bootstrap = own_broker.bootstrap_servers
    relay = OutboxRelay(database=database, kafka=KafkaConnection(bootstrap), service="test")
    await relay.start()
    try:
        async with database.transaction() as session:
            publish(session, model(ping_id=subject, note="before"), actor=None)
        await wait_until_published(database)
        await relay.check()  # healthy: it has published through this broker

        await asyncio.to_thread(own_broker.stop)
        async with database.transaction() as session:
            publish(session, model(ping_id=subject, note="waited"), actor=None)

        async def reports_outage() -> bool:
            return await _outage(relay) is not None

        await eventually(
            reports_outage,
            timeout=OUTAGE_TIMEOUT,
            message="the relay still claims to be healthy with its broker stopped",
        )
        assert await pending_events(database) == 1

        own_broker.start()  # from the event loop's thread: the broker dies with its starter
        await asyncio.to_thread(own_broker.wait_ready)
        await wait_until_published(database, within=OUTAGE_TIMEOUT)

        async def healthy() -> bool:
            return await _outage(relay) is None

        await eventually(healthy, message="the relay published but still reports an outage")
    finally:
        await relay.stop()
    records = await read_topic(bootstrap, topic_name, expect=2)
    notes_by_id: dict[str, str] = {}
    for record in records:
        envelope = Envelope.from_record(record.key, record.value, list(record.headers))
        assert notes_by_id.setdefault(envelope.id, envelope.data["note"]) == envelope.data["note"]
    # A send abandoned during the outage may still land once Kafka is back: a duplicate with
    # the same id (consumers dedupe on it), never a loss.
    assert list(notes_by_id.values()) == ["before", "waited"]
