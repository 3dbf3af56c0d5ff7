"""The session PostgreSQL server from kit.testing.plugin: fresh databases and row locking."""

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from devstack.postgres import create_database
from kit.testing.plugin import DatabaseFactory


async def test_new_databases_are_distinct_and_empty(
    postgres_database_factory: DatabaseFactory,
) -> None:
    first, second = postgres_database_factory("Events Seats"), postgres_database_factory("x")
    assert first != second
    assert first.startswith("postgresql+asyncpg://")
    engine = create_async_engine(first)
    try:
        async with engine.connect() as connection:
            tables = await connection.scalar(
                text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            )
    finally:
        await engine.dispose()
    assert tables == 0


async def test_conditional_update_never_oversells(
    postgres_database_factory: DatabaseFactory,
) -> None:
    engine = create_async_engine(postgres_database_factory("seats"), pool_size=10)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "CREATE TABLE seats (id int PRIMARY KEY, remaining int CHECK (remaining >= 0))"
                )
            )
            await connection.execute(text("INSERT INTO seats VALUES (1, 3)"))

        async def take_seat() -> bool:
            async with engine.begin() as connection:
                taken = await connection.execute(
                    text(
                        "UPDATE seats SET remaining = remaining - 1"
                        " WHERE id = 1 AND remaining > 0 RETURNING remaining"
                    )
                )
                return taken.first() is not None

        results = await asyncio.gather(*(take_seat() for _ in range(10)))
        async with engine.connect() as connection:
            remaining = await connection.scalar(text("SELECT remaining FROM seats WHERE id = 1"))
    finally:
        await engine.dispose()
    assert results.count(True) == 3
    assert remaining == 0


async def test_unsafe_database_names_are_refused(postgres_server: str) -> None:
    with pytest.raises(ValueError, match="not a safe database name"):
        await create_database(postgres_server, 'x"; DROP DATABASE postgres; --')
