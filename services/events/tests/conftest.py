"""Fixtures for events' tests: one migrated PostgreSQL database and one app for the whole
session (tests use fresh users and events, so they do not see each other), tokens from a
:class:`TokenMinter`, and helpers to create and publish events."""

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from kit.db import Database
from kit.testing.plugin import MigratedDatabaseFactory
from kit.testing.tokens import TokenMinter
from services.events.app import create_app
from services.events.config import EventsSettings

QR_SECRET = "test-qr-secret-0123456789"


@dataclass
class User:
    id: uuid.UUID
    headers: dict[str, str]


@pytest.fixture(scope="session")
def minter() -> TokenMinter:
    return TokenMinter()


@pytest.fixture(scope="session")
async def events_url(migrated_database_factory: MigratedDatabaseFactory) -> str:
    return await migrated_database_factory("events")


@pytest.fixture(scope="session")
async def app(events_url: str, minter: TokenMinter) -> AsyncIterator[FastAPI]:
    settings = EventsSettings(
        database_url=events_url,
        database_pool_size=40,
        bus_enabled=False,
        qr_secret=QR_SECRET,
    )
    app = create_app(settings, token_verifier=minter.verifier())
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="session")
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://events") as client:
        yield client


@pytest.fixture(scope="session")
def database(app: FastAPI) -> Database:
    database: Database = app.state.database
    return database


@pytest.fixture
def make_user(minter: TokenMinter) -> Callable[..., User]:
    def make(*roles: str) -> User:
        user_id = uuid.uuid4()
        return User(user_id, minter.headers(user_id, roles or ("fan",)))

    return make


@pytest.fixture
def staff(make_user: Callable[..., User]) -> User:
    return make_user("staff")


def now() -> datetime:
    return datetime.now(UTC)


def event_body(**overrides: Any) -> dict[str, Any]:
    start = now() + timedelta(days=2)
    body: dict[str, Any] = {
        "title": "Saturday salon",
        "category": "salon",
        "city": "Munich",
        "capacity": 10,
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=3)).isoformat(),
        "opens_at": (now() - timedelta(minutes=5)).isoformat(),
        "closes_at": (start - timedelta(hours=1)).isoformat(),
    }
    body.update(overrides)
    return body


async def published_event(
    client: httpx.AsyncClient, organizer: User, **overrides: Any
) -> dict[str, Any]:
    """Create an event as ``organizer`` (staff) and publish it."""
    created = await client.post(
        "/v1/events", json=event_body(**overrides), headers=organizer.headers
    )
    assert created.status_code == 201, created.text
    published = await client.post(
        f"/v1/events/{created.json()['id']}/publish", headers=organizer.headers
    )
    assert published.status_code == 200, published.text
    event: dict[str, Any] = published.json()
    return event


async def scalar(database: Database, sql: str, **params: Any) -> Any:
    async with database.engine.connect() as connection:
        return (await connection.execute(text(sql), params)).scalar()


async def rows(database: Database, sql: str, **params: Any) -> list[Any]:
    async with database.engine.connect() as connection:
        return list((await connection.execute(text(sql), params)).all())
