"""Benchmark the outbox relay: events per second published with 1, 2 and 3 relay replicas,
against a producer alone sending the same records (what Kafka itself takes), on durable
PostgreSQL and a real broker.

    make bench-relay

Each round starts the relays as processes of their own (replicas, each with its own
connection pool and producer), waits until every one has reached Kafka, stages
``EVENTS`` outbox rows about ``AGGREGATES`` aggregates in one statement (the ordering
trigger numbers them as in production) and times the relays until nothing is pending.
Throughput counts every event once; the order per aggregate is the relays' job and the
tests' to prove (``kit/bus/tests/test_ordering.py``, ``tests/test_scale_out.py``).

* ``relays-2``, ``relays-3``: 2 or 3 replicas against 1 (the baseline of the same run);
* ``relay-floor``: 1 relay against the producer alone.
"""

import asyncio
import multiprocessing
import multiprocessing.synchronize
import sys
import tempfile
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaProducer
from sqlalchemy import func, select, text
from sqlmodel import col

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench.harness import Result, database, durable_postgres, kafka_broker  # noqa: E402
from kit.bus.envelope import Envelope  # noqa: E402
from kit.bus.kafka import KafkaConnection, idempotent_producer  # noqa: E402
from kit.bus.outbox import OutboxMessage, OutboxSequence  # noqa: E402
from kit.bus.relay import OutboxRelay  # noqa: E402
from kit.db import KIT_METADATA, Database  # noqa: E402
from kit.testing.kafka import create_topics  # noqa: E402

EVENTS = 50_000
AGGREGATES = 2_000
PARTITIONS = 6
BATCH = 500
SWEEP_SECONDS = 0.02  # replicas find rows committed elsewhere this fast
STAGE = text("""
INSERT INTO outbox (id, topic, key, type, source, data, created_at)
SELECT gen_random_uuid(), :topic, 'aggregate-' || (n % :aggregates), 'bench.pinged.v1',
       'bench', json_build_object('n', n), now()
FROM generate_series(1, :events) AS n
""")


async def _prepare(url: str) -> None:
    db = Database(url, service="bench")
    tables = [model.__table__ for model in (OutboxMessage, OutboxSequence)]  # type: ignore[attr-defined]
    async with db.engine.begin() as connection:
        await connection.run_sync(KIT_METADATA.create_all, tables=tables)
    await db.dispose()


async def _stage(url: str, topic: str) -> None:
    db = Database(url, service="bench")
    async with db.engine.begin() as connection:
        await connection.execute(text("DELETE FROM outbox"))
        await connection.execute(
            STAGE, {"topic": topic, "aggregates": AGGREGATES, "events": EVENTS}
        )
    await db.dispose()


async def _pending(db: Database) -> int:
    query = select(func.count()).where(col(OutboxMessage.published_at).is_(None))
    async with db.reading() as session:
        return int(await session.scalar(query) or 0)


def _relay_process(url: str, bootstrap: str, ready: "multiprocessing.synchronize.Event") -> None:
    """One replica: it reports ready once its producer reached Kafka, then publishes."""

    async def run() -> None:
        db = Database(url, service="bench")
        relay = OutboxRelay(
            database=db,
            kafka=KafkaConnection(bootstrap),
            service="bench",
            batch_size=BATCH,
            sweep_interval=SWEEP_SECONDS,
        )
        await relay.start()
        try:
            while relay.kafka_problem() is not None:  # noqa: ASYNC110 - polls the relay's state
                await asyncio.sleep(0.05)
            ready.set()
            await asyncio.sleep(3600)
        finally:
            await relay.stop()

    asyncio.run(run())


async def relays(url: str, bootstrap: str, replicas: int) -> Result:
    """The replicas start on an empty outbox; the clock starts when the rows commit."""
    topic = f"bench.relay.{replicas}.{uuid.uuid4().hex[:6]}"
    await create_topics(bootstrap, [topic], partitions=PARTITIONS)
    context = multiprocessing.get_context("spawn")
    ready = [context.Event() for _ in range(replicas)]
    processes = [
        context.Process(target=_relay_process, args=(url, bootstrap, event)) for event in ready
    ]
    db = Database(url, service="bench")
    for process in processes:
        process.start()
    try:
        for event in ready:
            await asyncio.to_thread(event.wait, 120)
        await _stage(url, topic)
        started = time.perf_counter()
        while await _pending(db):  # noqa: ASYNC110 - polls the database
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - started
    finally:
        for process in processes:
            process.kill()
            process.join()
        await db.dispose()
    return Result(f"{replicas} relay replica(s)", EVENTS / elapsed, 0.0, 0.0)


async def producer_alone(bootstrap: str) -> Result:
    """The same records, batches of ``BATCH`` awaited like the relay's, no database."""
    topic = f"bench.producer.{uuid.uuid4().hex[:6]}"
    await create_topics(bootstrap, [topic], partitions=PARTITIONS)
    records = [
        Envelope(
            type="bench.pinged.v1",
            source="bench",
            subject=f"aggregate-{n % AGGREGATES}",
            data={"n": n},
            sequence=n // AGGREGATES + 1,
        ).to_record()
        for n in range(EVENTS)
    ]
    producer: AIOKafkaProducer = idempotent_producer(
        KafkaConnection(bootstrap), client_id="bench-floor"
    )
    started = time.perf_counter()  # starting a producer counts, as it does for a relay
    await producer.start()
    try:
        for first in range(0, EVENTS, BATCH):
            batch = records[first : first + BATCH]
            deliveries = [
                await producer.send(topic, key=key, value=value, headers=headers)
                for key, value, headers in batch
            ]
            await asyncio.gather(*deliveries)
        elapsed = time.perf_counter() - started
    finally:
        await producer.stop()
    return Result("producer alone", EVENTS / elapsed, 0.0, 0.0)


def main() -> None:
    with (
        tempfile.TemporaryDirectory(prefix="paddock-bench-relay-") as workdir,
        durable_postgres(Path(workdir)) as server,
        kafka_broker(Path(workdir)) as bootstrap,
    ):
        url = database(server, "relay")
        asyncio.run(_prepare(url))
        asyncio.run(relays(url, bootstrap, 1))  # warm-up: broker, caches, imports
        results = {n: asyncio.run(relays(url, bootstrap, n)) for n in (1, 2, 3)}
        floor = asyncio.run(producer_alone(bootstrap))
    print(f"relay: {EVENTS} events about {AGGREGATES} aggregates, {PARTITIONS} partitions")
    for result in (*results.values(), floor):
        print(f"  {result.name:<24} {result.per_second:>9.0f} events/s")
    one = results[1].per_second
    print(f"relays-2: ratio {results[2].per_second / one:.2f} (2 relay replicas / 1)")
    print(f"relays-3: ratio {results[3].per_second / one:.2f} (3 relay replicas / 1)")
    print(f"relay-floor: ratio {one / floor.per_second:.2f} (1 relay / the producer alone)")


if __name__ == "__main__":
    main()
