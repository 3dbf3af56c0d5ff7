"""Inspect and replay dead-lettered events.

    python -m kit.bus.dlq list identity.users          # what is in identity.users.dlq
    python -m kit.bus.dlq replay identity.users        # send it back to identity.users

``replay`` reads the DLQ through its own consumer group and commits after each record
is republished, so a record is replayed once however often the command runs; the
original headers go back without the ``paddock_dlq_*`` diagnosis. Consumers dedupe on
the event id, so only the consumer that failed on it does the work again.
``KAFKA_BOOTSTRAP_SERVERS`` selects the cluster, and the other ``KAFKA_*`` settings how to
reach it (:class:`kit.settings.ServiceSettings`): in Kubernetes, run it with the
credentials of a user that may read the DLQ and write the topic.
"""

import argparse
import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from kit.bus.consumer import DLQ_HEADER_PREFIX
from kit.bus.kafka import KafkaConnection, committed_reader, idempotent_producer
from kit.settings import ServiceSettings

REPLAY_GROUP_PREFIX = "paddock-dlq-replay."
IDLE_MS = 2_000
ASSIGNMENT_TIMEOUT_SECONDS = 15


@dataclass(frozen=True)
class DeadLetter:
    offset: int
    key: str
    event_type: str
    event_id: str
    reason: str
    consumer: str


def _headers(record: ConsumerRecord[bytes, bytes]) -> dict[str, str]:
    return {name: value.decode(errors="replace") for name, value in record.headers}


def describe(record: ConsumerRecord[bytes, bytes]) -> DeadLetter:
    headers = _headers(record)
    return DeadLetter(
        offset=record.offset,
        key=(record.key or b"").decode(errors="replace"),
        event_type=headers.get("ce_type", "?"),
        event_id=headers.get("ce_id", "?"),
        reason=headers.get(f"{DLQ_HEADER_PREFIX}reason", "?"),
        consumer=headers.get(f"{DLQ_HEADER_PREFIX}consumer", "?"),
    )


async def list_dead_letters(kafka: KafkaConnection, topic: str) -> list[DeadLetter]:
    """Every record in ``<topic>.dlq``, oldest first (no offsets are committed)."""
    reader = committed_reader(kafka, f"{topic}.dlq", group_id=None, client_id="dlq")
    await reader.start()
    try:
        return [describe(record) async for record in _drain(reader)]
    finally:
        await reader.stop()


async def replay(kafka: KafkaConnection, topic: str) -> int:
    """Republish not-yet-replayed records of ``<topic>.dlq`` to ``topic``; return the count."""
    reader = committed_reader(
        kafka,
        f"{topic}.dlq",
        group_id=f"{REPLAY_GROUP_PREFIX}{topic}",
        client_id="dlq-replay",
    )
    producer = idempotent_producer(kafka, client_id="dlq-replay")
    await reader.start()
    await producer.start()
    replayed = 0
    try:
        async for record in _drain(reader):
            headers = [h for h in record.headers if not h[0].startswith(DLQ_HEADER_PREFIX)]
            await producer.send_and_wait(topic, value=record.value, key=record.key, headers=headers)
            await reader.commit()
            replayed += 1
    finally:
        await producer.stop()
        await reader.stop()
    return replayed


async def _drain(reader: AIOKafkaConsumer) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """Yield records until the DLQ stays quiet for ``IDLE_MS`` after its assignment."""
    deadline = time.monotonic() + ASSIGNMENT_TIMEOUT_SECONDS
    while not reader.assignment() and time.monotonic() < deadline:  # noqa: ASYNC110 - no event to await
        await asyncio.sleep(0.1)
    while True:
        batches = await reader.getmany(timeout_ms=IDLE_MS)
        if not batches:
            return
        for records in batches.values():
            for record in records:
                yield record


def main() -> None:
    parser = argparse.ArgumentParser(description="Inspect and replay dead-lettered events.")
    parser.add_argument("action", choices=["list", "replay"])
    parser.add_argument("topic", help="the original topic, e.g. identity.users")
    parser.add_argument("--bootstrap-servers", help="instead of KAFKA_BOOTSTRAP_SERVERS")
    args = parser.parse_args()
    kafka = ServiceSettings().kafka
    if args.bootstrap_servers:
        kafka = replace(kafka, bootstrap_servers=args.bootstrap_servers)
    if args.action == "list":
        letters = asyncio.run(list_dead_letters(kafka, args.topic))
        for letter in letters:
            print(
                f"{letter.offset}\t{letter.event_type}\t{letter.event_id}\t"
                f"{letter.consumer}\t{letter.reason}"
            )
        print(f"{len(letters)} dead letter(s) in {args.topic}.dlq")
    else:
        count = asyncio.run(replay(kafka, args.topic))
        print(f"replayed {count} record(s) from {args.topic}.dlq to {args.topic}")


if __name__ == "__main__":
    main()
