"""Driving a service app in tests: its lifespan, an HTTP client over ASGI, raw SQL reads of
its database (:func:`scalar`, :func:`rows`), what it wrote to its outbox (what it will
publish) and whether its relays have published it all."""

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select, text
from sqlmodel import col

from kit.bus.outbox import OutboxMessage
from kit.db import Database
from kit.testing.waiting import eventually

TEST_CLIENT_ADDRESS = ("203.0.113.7", 50000)


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[FastAPI]:
    """``app`` with its lifespan started (database, relay, consumers) until the block ends."""
    async with app.router.lifespan_context(app):
        yield app


@asynccontextmanager
async def service_client(
    app: FastAPI, *, base_url: str = "http://test", raise_app_exceptions: bool = True
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client calling ``app`` in-process (its lifespan must be running)."""
    transport = httpx.ASGITransport(
        app, client=TEST_CLIENT_ADDRESS, raise_app_exceptions=raise_app_exceptions
    )
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
        yield client


async def scalar(database: Database, sql: str, **params: Any) -> Any:
    """The first column of the first row of ``sql`` (``:name`` parameters)."""
    async with database.engine.connect() as connection:
        return (await connection.execute(text(sql), params)).scalar()


async def rows(database: Database, sql: str, **params: Any) -> list[Any]:
    """Every row of ``sql``, each with its columns as attributes."""
    async with database.engine.connect() as connection:
        return list((await connection.execute(text(sql), params)).all())


@dataclass(frozen=True)
class StagedEvent:
    """An outbox row as a test reads it."""

    type: str
    subject: str
    data: dict[str, Any]
    actor: uuid.UUID | None


async def outbox_events(
    database: Database, *, subject: object | None = None, event_type: str | None = None
) -> list[StagedEvent]:
    """The events a service staged, oldest first; optionally about one subject or of a type."""
    query = select(OutboxMessage).order_by(col(OutboxMessage.id))
    if subject is not None:
        query = query.where(col(OutboxMessage.key) == str(subject))
    if event_type is not None:
        query = query.where(col(OutboxMessage.type) == event_type)
    async with database.reading() as session:
        rows = (await session.scalars(query)).all()
    return [StagedEvent(row.type, row.key, row.data, row.actor_id) for row in rows]


async def pending_events(database: Database) -> int:
    """How many outbox rows wait for Kafka's acknowledgement."""
    query = select(func.count()).where(col(OutboxMessage.published_at).is_(None))
    async with database.reading() as session:
        return int(await session.scalar(query) or 0)


async def wait_until_published(database: Database, *, within: float = 30) -> None:
    """Until no outbox row waits (the relays published everything committed)."""

    async def drained() -> bool:
        return await pending_events(database) == 0

    await eventually(drained, timeout=within, message="outbox rows still unpublished")
