"""Kafka client construction in one place, so that every producer is idempotent and
waits for all in-sync replicas, and every consumer reads only committed records."""

import asyncio
import logging

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_MS = 10_000
STOP_TIMEOUT_SECONDS = 10.0


def idempotent_producer(bootstrap_servers: str, *, client_id: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=2,
        request_timeout_ms=REQUEST_TIMEOUT_MS,
    )


def committed_reader(
    bootstrap_servers: str, *topics: str, group_id: str | None, client_id: str
) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap_servers,
        group_id=group_id,
        client_id=client_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        request_timeout_ms=REQUEST_TIMEOUT_MS + 5_000,
        session_timeout_ms=10_000,
        heartbeat_interval_ms=3_000,
        metadata_max_age_ms=5_000,
    )


async def stop_within(client: AIOKafkaProducer | AIOKafkaConsumer) -> None:
    """Stop a client, giving up after ``STOP_TIMEOUT_SECONDS``: a client interrupted while
    starting (or with a broker gone) can otherwise wait forever, and a shutdown must end."""
    try:
        async with asyncio.timeout(STOP_TIMEOUT_SECONDS):
            await client.stop()
    except TimeoutError:
        log.warning(
            "Kafka client %s did not stop in %.0fs", type(client).__name__, STOP_TIMEOUT_SECONDS
        )
