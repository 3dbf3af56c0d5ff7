"""Many replicas, one order (issue 20): three events processes on one PostgreSQL and one
broker, with two relays per replica (each process's own, and one more per replica run by
the test), under a signup rush with cancellations.

The witness of commit order is PostgreSQL's own: a logical replication slot
(``test_decoding``) streams committed transactions in commit order, so the outbox inserts
it shows for one event are that event's commits, in order. What reached Kafka must be
exactly that, per event and topic: the same events, in the same order, numbered 1, 2, 3...
"""

import asyncio
import itertools
import random
import re
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from contracts.events import EVENTS_EVENTS, EVENTS_SIGNUPS
from kit.bus.envelope import Envelope
from kit.bus.kafka import KafkaConnection
from kit.bus.relay import OutboxRelay
from kit.db import Database
from kit.testing.kafka import read_topic
from kit.testing.plugin import MigratedDatabaseFactory
from kit.testing.servers import serving
from kit.testing.services import wait_until_published
from kit.testing.tokens import TokenMinter
from services.events.tests.support import QR_SECRET, event_body
from tests.processes import ServiceProcess

EVENTS = "services.events.app:create_app"
REPLICAS = 3
USERS_PER_EVENT = 40
OUTBOX_INSERT = re.compile(
    r"^table public\.outbox: INSERT: id\[uuid\]:'(?P<id>[0-9a-f-]+)' "
    r"topic\[character varying\]:'(?P<topic>[^']+)' key\[character varying\]:'(?P<key>[^']+)'"
)


@pytest.fixture
async def events_database(migrated_database_factory: MigratedDatabaseFactory) -> str:
    return await migrated_database_factory("events")


@pytest.fixture
async def commit_log(events_database: str) -> AsyncIterator["CommitLog"]:
    log = CommitLog(events_database)
    await log.open()
    try:
        yield log
    finally:
        await log.close()


class CommitLog:
    """The outbox inserts of committed transactions, in commit order (logical decoding)."""

    def __init__(self, database_url: str) -> None:
        url = make_url(database_url)
        self.dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.slot = f"order_{uuid.uuid4().hex[:12]}"

    async def open(self) -> None:
        connection = await asyncpg.connect(self.dsn)
        try:
            level = await connection.fetchval("SHOW wal_level")
            assert level == "logical", "the test PostgreSQL needs wal_level = logical"
            await connection.execute(
                "SELECT pg_create_logical_replication_slot($1, 'test_decoding')", self.slot
            )
        finally:
            await connection.close()

    async def outbox_ids(self) -> dict[tuple[str, str], list[str]]:
        """Per (topic, key): the ids of the committed outbox rows, in commit order."""
        connection = await asyncpg.connect(self.dsn)
        try:
            # Decoding reads flushed WAL only, and the test server commits asynchronously:
            # one synchronous commit that wrote WAL flushes every commit before it.
            async with connection.transaction():
                await connection.execute("SET LOCAL synchronous_commit = on")
                await connection.execute("SELECT pg_logical_emit_message(true, 'test', 'flush')")
            changes = await connection.fetch(
                "SELECT data FROM pg_logical_slot_get_changes($1, NULL, NULL, "
                "'include-xids', '0', 'skip-empty-xacts', '1')",
                self.slot,
            )
        finally:
            await connection.close()
        committed: dict[tuple[str, str], list[str]] = defaultdict(list)
        for change in changes:
            if match := OUTBOX_INSERT.match(change["data"]):
                committed[(match["topic"], match["key"])].append(match["id"])
        return committed

    async def close(self) -> None:
        connection = await asyncpg.connect(self.dsn)
        try:
            await connection.execute("SELECT pg_drop_replication_slot($1)", self.slot)
        finally:
            await connection.close()


@pytest.fixture
async def jwks_url(minter: TokenMinter) -> AsyncIterator[str]:
    async def jwks(_: object) -> JSONResponse:
        return JSONResponse(minter.jwks)

    async with serving(Starlette(routes=[Route("/jwks.json", jwks)])) as url:
        yield f"{url}/jwks.json"


@pytest.fixture
async def replicas(
    events_database: str, kafka_bootstrap: str, jwks_url: str, tmp_path: Path
) -> AsyncIterator[list[str]]:
    env = {
        "EVENTS_DATABASE_URL": events_database,
        "EVENTS_BUS_ENABLED": "true",
        "EVENTS_QR_SECRET": QR_SECRET,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "PADDOCK_JWKS_URL": jwks_url,
    }
    processes = [ServiceProcess(EVENTS, env, tmp_path / f"events-{n}.log") for n in range(REPLICAS)]
    try:
        await asyncio.gather(*(asyncio.to_thread(p.start, timeout=120) for p in processes))
        yield [process.url for process in processes]
    finally:
        for process in processes:
            await asyncio.to_thread(process.stop)


async def test_every_event_reaches_kafka_in_commit_order_from_three_replicas(
    replicas: list[str],
    commit_log: CommitLog,
    events_database: str,
    kafka_bootstrap: str,
    minter: TokenMinter,
) -> None:
    database = Database(events_database, service="events")
    extra_relays = [
        OutboxRelay(database=database, kafka=KafkaConnection(kafka_bootstrap), service="events")
        for _ in replicas
    ]
    for relay in extra_relays:
        await relay.start()
    try:
        clients = [httpx.AsyncClient(base_url=url, timeout=30) for url in replicas]
        try:
            event_ids = [await _published_event(clients[0], minter) for _ in range(2)]
            await _rush_with_cancellations(clients, event_ids, minter)
        finally:
            for client in clients:
                await client.aclose()
        await wait_until_published(database, within=60)
    finally:
        for relay in extra_relays:
            await relay.stop()
        await database.dispose()

    committed = await commit_log.outbox_ids()
    delivered = await _delivered(kafka_bootstrap, set(event_ids))
    for topic, event_id in itertools.product((EVENTS_EVENTS, EVENTS_SIGNUPS), event_ids):
        stream = (topic.name, event_id)
        assert committed[stream], f"nothing committed on {stream}"
        ids = [envelope.id for envelope in delivered[stream]]
        assert ids == committed[stream], f"{stream}: Kafka's order is not the commit order"
        sequences = [envelope.sequence for envelope in delivered[stream]]
        assert sequences == list(range(1, len(ids) + 1))


async def _published_event(client: httpx.AsyncClient, minter: TokenMinter) -> str:
    staff = minter.headers(uuid.uuid4(), ("staff",))
    body = event_body(capacity=8)
    created = await client.post("/v1/events", json=body, headers=staff)
    assert created.status_code == 201, created.text
    event_id = str(created.json()["id"])
    published = await client.post(f"/v1/events/{event_id}/publish", headers=staff)
    assert published.status_code == 200, published.text
    return event_id


async def _rush_with_cancellations(
    clients: list[httpx.AsyncClient], event_ids: list[str], minter: TokenMinter
) -> None:
    """Every user signs up on some replica; a third then cancel on another one, each
    cancellation promoting the head of the waitlist."""
    users = [(event_id, uuid.uuid4()) for event_id in event_ids for _ in range(USERS_PER_EVENT)]
    random.shuffle(users)
    gate = asyncio.Semaphore(12)

    async def sign_up_and_maybe_cancel(n: int, event_id: str, user: uuid.UUID) -> None:
        headers = minter.headers(user, ("fan",))
        async with gate:
            signed = await clients[n % len(clients)].post(
                f"/v1/events/{event_id}/signups",
                headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
            )
        assert signed.status_code == 201, signed.text
        if n % 3:
            return
        async with gate:
            cancelled = await clients[(n + 1) % len(clients)].post(
                f"/v1/signups/{signed.json()['id']}/cancel", headers=headers
            )
        assert cancelled.status_code == 200, cancelled.text

    await asyncio.gather(
        *(sign_up_and_maybe_cancel(n, event_id, user) for n, (event_id, user) in enumerate(users))
    )


async def _delivered(bootstrap: str, keys: set[str]) -> dict[tuple[str, str], list[Envelope]]:
    """Per (topic, key) of ``keys``: the events on Kafka in partition order, duplicates
    (same id) dropped."""
    delivered: dict[tuple[str, str], list[Envelope]] = defaultdict(list)
    for topic in (EVENTS_EVENTS, EVENTS_SIGNUPS):
        seen: set[str] = set()
        for record in await read_topic(bootstrap, topic.name, expect=1):
            if record.key is None or record.key.decode() not in keys:
                continue
            envelope = Envelope.from_record(record.key, record.value, list(record.headers))
            if envelope.id not in seen:
                seen.add(envelope.id)
                delivered[(topic.name, envelope.subject)].append(envelope)
    return delivered
