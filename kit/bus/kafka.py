"""Kafka client construction in one place, so that every producer is idempotent and
waits for all in-sync replicas, and every consumer reads only committed records."""

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

REQUEST_TIMEOUT_MS = 10_000


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
