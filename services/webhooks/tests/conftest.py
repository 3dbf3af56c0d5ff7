"""Fixtures for webhooks' tests: a migrated PostgreSQL database and an app on it for the
whole session, with a retry schedule of fractions of a second, a one-second timeout and the
development allow-list (loopback may be called), its dispatcher running; a receiver on
loopback; tokens from the session's ``minter``. The bus is off: events are handed to the
fan-out as the consumer would (the way from Kafka is tested end to end in ``tests/``)."""

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from kit.db import Database
from kit.testing.plugin import MigratedDatabaseFactory
from kit.testing.services import running, service_client
from kit.testing.tokens import TokenMinter
from services.webhooks.app import create_app
from services.webhooks.config import WebhooksSettings
from services.webhooks.tests.support import Receiver, receiving

FAST_SCHEDULE = [0.0, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2]


def settings_for(url: str, **overrides: object) -> WebhooksSettings:
    values: dict[str, object] = {
        "database_url": url,
        "database_pool_size": 10,
        "bus_enabled": False,
        "require_https": False,
        "allowed_targets": ["127.0.0.0/8"],
        "retry_schedule_seconds": FAST_SCHEDULE,
        "retry_jitter": 0.0,
        "delivery_timeout_seconds": 1.0,
        "circuit_failures": 100,
        "dispatch_poll_seconds": 0.05,
        "portal_secure_cookie": False,
        **overrides,
    }
    return WebhooksSettings.model_validate(values)


@pytest.fixture(scope="session")
async def app(
    migrated_database_factory: MigratedDatabaseFactory, minter: TokenMinter
) -> AsyncIterator[FastAPI]:
    url = await migrated_database_factory("webhooks")
    async with running(create_app(settings_for(url), token_verifier=minter.verifier())) as app:
        yield app


@pytest.fixture(scope="session")
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with service_client(app, base_url="http://webhooks") as client:
        yield client


@pytest.fixture(scope="session")
def database(app: FastAPI) -> Database:
    database: Database = app.state.database
    return database


@pytest.fixture(scope="session")
def admin(minter: TokenMinter) -> dict[str, str]:
    return minter.headers(uuid.uuid4(), ("admin",))


@pytest.fixture(scope="session")
async def receiver() -> AsyncIterator[Receiver]:
    async with receiving() as receiver:
        yield receiver
