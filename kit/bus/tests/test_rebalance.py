"""Consumers under rebalance: two replicas of one consumer group as real processes; one is
killed mid-stream (SIGKILL, as a node dies), started again, and the other is stopped (as a
scale-in): every event's effect happens exactly once, and the lag drains."""

import asyncio
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import REGISTRY
from sqlalchemy import text

from devstack import REPO_ROOT
from kit.bus.consumer import EventConsumer
from kit.bus.kafka import KafkaConnection
from kit.bus.tests.conftest import count_effects, make_payload_type
from kit.bus.tests.test_consumer import ping, record_effect, send
from kit.db import Database
from kit.testing.kafka import create_topics
from kit.testing.waiting import eventually

PARTITIONS = 4
EVENTS = 600


class Replica:
    """``python -m kit.bus.tests.replica``: one member of the consumer group."""

    def __init__(self, args: list[str], log_path: Path) -> None:
        self.args = args
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "kit.bus.tests.replica", *self.args],
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def signal(self, signum: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(signum)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def replicas(
    database: Database, kafka_bootstrap: str, topic_name: str, tmp_path: Path
) -> Iterator[list[Replica]]:
    url = database.engine.url.render_as_string(hide_password=False)
    group = f"rebalance-{uuid.uuid4().hex[:6]}"
    replicas = [
        Replica([url, kafka_bootstrap, topic_name, group], tmp_path / f"replica-{n}.log")
        for n in range(2)
    ]
    yield replicas
    for replica in replicas:
        replica.stop()


async def _effects_reach(database: Database, count: int, timeout: float = 90) -> None:
    async def reached() -> bool:
        return await count_effects(database) >= count

    await eventually(reached, timeout=timeout, message=f"fewer than {count} effects")


async def test_killing_and_adding_replicas_mid_stream_changes_no_effect(
    database: Database,
    kafka_bootstrap: str,
    topic_name: str,
    replicas: list[Replica],
    tmp_path: Path,
) -> None:
    await create_topics(kafka_bootstrap, [topic_name], partitions=PARTITIONS)
    first, second = replicas
    first.start()
    second.start()
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        sent = [ping(f"n{n}") for n in range(EVENTS)]
        for envelope in sent[: EVENTS // 2]:
            await send(producer, topic_name, envelope)
        await _effects_reach(database, EVENTS // 8)
        first.signal(signal.SIGKILL)  # mid-stream: handled records not yet committed
        await _effects_reach(database, EVENTS // 4)
        first.start()
        for envelope in sent[EVENTS // 2 :]:
            await send(producer, topic_name, envelope)
        await _effects_reach(database, EVENTS * 5 // 8)
        second.signal(signal.SIGTERM)  # scale in: its partitions move to the first
        await _effects_reach(database, EVENTS)
    finally:
        await producer.stop()
    await asyncio.sleep(3)  # time for a double effect to show, if there were one
    async with database.engine.connect() as connection:
        notes = (await connection.execute(text("SELECT note FROM effects"))).scalars().all()
    assert sorted(notes) == sorted(envelope.data["note"] for envelope in sent)


async def test_lag_is_exported_per_partition_and_drains(
    database: Database, kafka_bootstrap: str, topic_name: str
) -> None:
    await create_topics(kafka_bootstrap, [topic_name], partitions=PARTITIONS)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for n in range(40):
            await send(producer, topic_name, ping(f"n{n}"))
    finally:
        await producer.stop()
    consumer = EventConsumer(
        name=f"lag-{uuid.uuid4().hex[:6]}",
        service="test",
        database=database,
        kafka=KafkaConnection(kafka_bootstrap),
        handlers={make_payload_type(topic_name): record_effect},
    )

    def lag(partition: int) -> float | None:
        labels = {"service": "test", "consumer": consumer.consumer_name, "topic": topic_name}
        return REGISTRY.get_sample_value(
            "paddock_consumer_lag", {**labels, "partition": str(partition)}
        )

    await consumer.start()
    try:
        await _effects_reach(database, 40, timeout=30)
        await eventually(
            lambda: all(lag(p) == 0 for p in range(PARTITIONS)),
            timeout=10,
            message=lambda: f"lag per partition: {[lag(p) for p in range(PARTITIONS)]}",
        )
    finally:
        await consumer.stop()
