"""Topics in tests: creating them with the partitions a test needs, and reading them back
to assert what really reached Kafka."""

from collections.abc import Iterable

from aiokafka import ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from kit.bus.envelope import Envelope
from kit.bus.kafka import KafkaConnection, committed_reader, stop_within


async def create_topics(bootstrap: str, names: Iterable[str], *, partitions: int = 1) -> None:
    """Create ``names`` (one replica each: the test broker has one node)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1) for name in names])
    finally:
        await admin.close()


async def read_topic(
    bootstrap: str, topic: str, *, expect: int, idle_ms: int = 1500, max_polls: int = 40
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every committed record on ``topic``: waits for at least ``expect``, then for quiet."""
    reader = committed_reader(
        KafkaConnection(bootstrap), topic, group_id=None, client_id="test-reader"
    )
    await reader.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        for _ in range(max_polls):
            batches = await reader.getmany(timeout_ms=idle_ms)
            fresh = [record for batch in batches.values() for record in batch]
            records.extend(fresh)
            if not fresh and len(records) >= expect:
                break
    finally:
        await stop_within(reader)
    return records


async def events_for(
    bootstrap: str, topic: str, subject: str, *, expect: int = 1
) -> list[Envelope]:
    """The CloudEvents on ``topic`` whose subject (record key) is ``subject``."""
    envelopes: list[Envelope] = []
    for _ in range(10):
        records = await read_topic(bootstrap, topic, expect=0, idle_ms=1000)
        envelopes = [
            Envelope.from_record(r.key, r.value, list(r.headers))
            for r in records
            if r.key == subject.encode()
        ]
        if len(envelopes) >= expect:
            break
    return envelopes
