"""Statements run alone, without the ORM: the same rows, as dicts, on PostgreSQL (asyncpg)
and SQLite, with parameters given at the call and values bound in the statement; a
statement is compiled once however often it runs; ``execute_alone`` commits by itself and
keeps its IntegrityError contract; a database that is away surfaces as a connection error
(which kit answers with 503, tests/test_faults.py shows it through the event page)."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    insert,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError

from kit.db import Database, execute_alone
from kit.db.direct import _compiled
from kit.problems import is_database_unavailable

metadata = MetaData()
items = Table(
    "reads_items",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("rank", Integer, nullable=False),
    Column("seen_at", DateTime(timezone=True), nullable=False),
)
SEEN_AT = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
BY_KIND = (
    select(items.c.id, items.c.rank)
    .where(items.c.kind == bindparam("kind"), items.c.rank >= 2)
    .order_by(items.c.rank)
)
BY_ID = select(items.c.id, items.c.kind, items.c.seen_at).where(items.c.id == bindparam("id"))


@pytest.fixture
async def database(any_backend_url: str) -> AsyncIterator[Database]:
    database = Database(any_backend_url, service="direct-test")
    async with database.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
        await connection.execute(
            insert(items),
            [
                {"id": f"item-{rank}", "kind": kind, "rank": rank, "seen_at": SEEN_AT}
                for rank, kind in enumerate(["salon", "salon", "trip", "salon"], start=1)
            ],
        )
    yield database
    await database.dispose()


async def test_rows_come_back_as_mappings_on_both_backends(database: Database) -> None:
    rows = await database.direct.all(BY_KIND, kind="salon")
    assert rows == [{"id": "item-2", "rank": 2}, {"id": "item-4", "rank": 4}]
    assert await database.direct.all(BY_KIND, kind="workshop") == []


async def test_one_row_or_none(database: Database) -> None:
    row = await database.direct.one(BY_ID, id="item-3")
    assert row is not None
    assert (row["id"], row["kind"]) == ("item-3", "trip")
    assert row["seen_at"].astimezone(UTC) == SEEN_AT
    assert await database.direct.one(BY_ID, id=str(uuid.uuid4())) is None


async def test_a_statement_compiles_once(database: Database) -> None:
    before = _compiled.cache_info()
    for rank in range(3):
        await database.direct.one(BY_ID, id=f"item-{rank}")
    after = _compiled.cache_info()
    compiled_now = after.misses - before.misses
    assert compiled_now <= (1 if not database.is_sqlite else 0)


async def test_a_database_that_is_away_raises_a_connection_error() -> None:
    database = Database("postgresql+asyncpg://postgres@127.0.0.1:1/nowhere", service="direct-test")
    with pytest.raises(ConnectionRefusedError) as raised:
        await database.direct.one(BY_ID, id="item-1")
    assert is_database_unavailable(raised.value)
    await database.dispose()


INSERT_ITEM = text(
    "INSERT INTO reads_items (id, kind, rank, seen_at) VALUES (:id, 'salon', :rank, :seen_at)"
    " RETURNING rank"
)


async def test_execute_alone_commits_by_itself(database: Database) -> None:
    async with database.sessionmaker() as session:
        session.info.update(database.session_info)
        rows = await execute_alone(
            session, INSERT_ITEM, {"id": "item-9", "rank": 9, "seen_at": SEEN_AT}
        )
    assert rows == [{"rank": 9}]
    assert await database.direct.one(BY_ID, id="item-9") is not None


async def test_execute_alone_raises_integrity_error_and_changes_nothing(
    database: Database,
) -> None:
    async with database.sessionmaker() as session:
        session.info.update(database.session_info)
        with pytest.raises(IntegrityError):
            await execute_alone(
                session, INSERT_ITEM, {"id": "item-1", "rank": 99, "seen_at": SEEN_AT}
            )
    assert [row["rank"] for row in await database.direct.all(BY_KIND, kind="salon")] == [2, 4]


async def test_execute_alone_refuses_a_unit_of_work_that_began(database: Database) -> None:
    async with database.transaction() as session:
        await session.execute(select(items.c.id))
        with pytest.raises(RuntimeError, match="has not begun"):
            await execute_alone(session, BY_ID, {"id": "item-1"})
