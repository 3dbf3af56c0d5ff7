"""The replay record: a retry gets the first answer, a reused key for another request is a
422, and a concurrent duplicate waits for the first and is told to retry (PostgreSQL)."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from kit.api.idempotency import (
    IdempotencyRecord,
    KeyReused,
    claim,
    fingerprint,
    refuse_reuse,
    remember,
)
from kit.db import OPT_IN_METADATA, Database
from kit.problems import Conflict

TABLES = [IdempotencyRecord.__table__]  # type: ignore[attr-defined]


@pytest.fixture
async def records(database: Database) -> Database:
    async with database.engine.begin() as connection:
        await connection.run_sync(OPT_IN_METADATA.create_all, tables=TABLES)
    return database


async def test_a_retry_gets_the_stored_answer(records: Database) -> None:
    owner, request = uuid.uuid4(), fingerprint("POST", "/v1/orders", {"sku": "cap"})
    async with records.transaction() as session:
        record = await claim(session, owner=owner, key="k1", request_hash=request)
        assert record.status_code is None
        remember(session, record, status_code=201, body={"order": 7})
    async with records.transaction() as session:
        replay = await claim(session, owner=owner, key="k1", request_hash=request)
    assert (replay.status_code, replay.body) == (201, {"order": 7})


async def test_the_same_key_for_another_request_is_refused(records: Database) -> None:
    owner = uuid.uuid4()
    async with records.transaction() as session:
        record = await claim(session, owner=owner, key="k", request_hash=fingerprint("a"))
        remember(session, record, status_code=200, body={})
    with pytest.raises(KeyReused) as refused:
        async with records.transaction() as session:
            await claim(session, owner=owner, key="k", request_hash=fingerprint("b"))
    assert (refused.value.status, refused.value.code) == (422, "idempotency-key-reused")


async def test_keys_belong_to_their_owner(records: Database) -> None:
    async with records.transaction() as session:
        mine = await claim(session, owner=uuid.uuid4(), key="k", request_hash=fingerprint("a"))
        remember(session, mine, status_code=200, body={})
        theirs = await claim(session, owner=uuid.uuid4(), key="k", request_hash=fingerprint("b"))
    assert theirs.status_code is None


@pytest.fixture
async def pg_records(postgres_database_factory: Callable[[str], str]) -> AsyncIterator[Database]:
    database = Database(postgres_database_factory("kit_idem"), service="test")
    async with database.engine.begin() as connection:
        await connection.run_sync(OPT_IN_METADATA.create_all, tables=TABLES)
    yield database
    await database.dispose()


async def test_a_concurrent_duplicate_waits_then_is_told_to_retry(pg_records: Database) -> None:
    owner, request = uuid.uuid4(), fingerprint("x")
    first_claimed, release_first = asyncio.Event(), asyncio.Event()

    async def first() -> None:
        async with pg_records.transaction() as session:
            record = await claim(session, owner=owner, key="k", request_hash=request)
            first_claimed.set()
            await release_first.wait()
            remember(session, record, status_code=201, body={"n": 1})

    async def second() -> None:
        await first_claimed.wait()
        async with pg_records.transaction() as session:
            await claim(session, owner=owner, key="k", request_hash=request)

    first_task = asyncio.create_task(first())
    second_task = asyncio.create_task(second())
    await first_claimed.wait()
    done, _ = await asyncio.wait([second_task], timeout=0.5)
    assert not done, "the duplicate must wait for the first request's transaction"
    release_first.set()
    await first_task
    with pytest.raises(Conflict) as refused:
        await second_task
    assert refused.value.code == "idempotency-key-in-progress"
    assert refused.value.headers["Retry-After"] == "1"


def test_refuse_reuse_names_what_the_key_made() -> None:
    refuse_reuse(used_for="event-1", requested="event-1", what="another event's signup")
    with pytest.raises(KeyReused, match="another event's signup"):
        refuse_reuse(used_for="event-1", requested="event-2", what="another event's signup")
