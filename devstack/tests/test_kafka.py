"""The session broker from kit.testing.plugin: plain and transactional round trips."""

import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from devstack.kafka import kafka_cluster_id, server_properties


async def _consume_one(bootstrap: str, topic: str, **options: object) -> tuple[bytes, bytes]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"test-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        **options,
    )
    await consumer.start()
    try:
        record = await consumer.getone()
        assert record.key is not None
        assert record.value is not None
        return record.key, record.value
    finally:
        await consumer.stop()


async def test_produce_consume_roundtrip(kafka_bootstrap: str) -> None:
    topic = f"test.roundtrip.{uuid.uuid4().hex}"
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"hello", key=b"k1")
    finally:
        await producer.stop()

    assert await _consume_one(kafka_bootstrap, topic) == (b"k1", b"hello")


async def test_transactional_producer_and_read_committed(kafka_bootstrap: str) -> None:
    topic = f"test.tx.{uuid.uuid4().hex}"
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, transactional_id=f"tx-{uuid.uuid4().hex}"
    )
    await producer.start()
    try:
        async with producer.transaction():
            await producer.send_and_wait(topic, b"committed", key=b"k")
    finally:
        await producer.stop()

    received = await _consume_one(kafka_bootstrap, topic, isolation_level="read_committed")
    assert received == (b"k", b"committed")


def test_server_properties_bind_localhost_only(tmp_path) -> None:
    text = server_properties(tmp_path, 19092, 19093)
    assert "listeners=PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093\n" in text
    assert "controller.quorum.voters=1@127.0.0.1:19093\n" in text


def test_cluster_ids_never_look_like_an_option() -> None:
    """About one random id in 64 starts with '-', which the storage tool took for a flag."""
    ids = [kafka_cluster_id() for _ in range(2000)]
    assert not [cluster_id for cluster_id in ids if cluster_id.startswith("-")]
    assert all(len(cluster_id) == 22 for cluster_id in ids)
