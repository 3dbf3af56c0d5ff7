"""The unit of work: commits once, rolls back on errors, commits a refusal raised with
``commit=True`` before answering it, runs after-commit callbacks only after a commit;
the portable upsert behaves the same on PostgreSQL and SQLite."""

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select

from kit.db import Database, after_commit, service_of, upsert
from kit.problems import Problem, Unauthorized

metadata = MetaData()
counters = Table(
    "uow_counters",
    metadata,
    Column("name", String(20), primary_key=True),
    Column("value", Integer, nullable=False),
)


@pytest.fixture
async def database(any_backend_url: str) -> AsyncIterator[Database]:
    database = Database(any_backend_url, service="uow-test")
    async with database.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield database
    await database.dispose()


async def count(database: Database) -> int:
    async with database.reading() as session:
        return int(await session.scalar(select(func.count()).select_from(counters)) or 0)


async def write_then_refuse(database: Database, refusal: Problem, ran: list[str]) -> None:
    async with database.transaction() as session:
        await session.execute(insert(counters).values(name="failures", value=1))
        after_commit(session, lambda: ran.append("callback"))
        raise refusal


async def test_an_error_rolls_everything_back(database: Database) -> None:
    ran: list[str] = []
    with pytest.raises(Problem):
        await write_then_refuse(database, Problem("refused"), ran)
    assert await count(database) == 0
    assert ran == []


async def test_a_refusal_with_commit_keeps_what_led_to_it(database: Database) -> None:
    ran: list[str] = []
    refusal = Unauthorized("invalid email or password", commit=True)
    with pytest.raises(Unauthorized) as refused:
        await write_then_refuse(database, refusal, ran)
    assert refused.value.status == 401
    assert await count(database) == 1
    assert ran == ["callback"]


async def test_sessions_know_their_service(database: Database) -> None:
    async with database.transaction() as session:
        assert service_of(session) == "uow-test"


async def test_upsert_inserts_then_updates_on_both_backends(database: Database) -> None:
    for value in (1, 5):
        async with database.transaction() as session:
            await session.execute(
                upsert(
                    session, counters, {"name": "c", "value": value}, key=["name"], update=["value"]
                )
            )
    async with database.reading() as session:
        rows = (await session.execute(select(counters.c.name, counters.c.value))).all()
    assert [tuple(row) for row in rows] == [("c", 5)]
