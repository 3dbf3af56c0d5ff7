"""Fixtures for referrals' tests: one migrated PostgreSQL database and two apps on it for
the whole session: ``app`` with velocity limits out of the way (tests make many leads per
code) and ``strict_app`` with the defaults (10 leads an hour). Tokens come from the
session's ``minter`` and the bus is off (what would be published is read from the
outbox; what reaches Kafka is tested end to end in ``tests/``). Tests use fresh members
and phone numbers, so they do not see each other."""

import uuid
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi import FastAPI

from kit.db import Database
from kit.testing.plugin import MigratedDatabaseFactory
from kit.testing.services import running, service_client
from kit.testing.tokens import TokenMinter
from services.referrals.app import create_app
from services.referrals.config import ReferralsSettings
from services.referrals.tests.support import Member, Phones

UNLIMITED = 100_000


@pytest.fixture(scope="session")
async def referrals_url(migrated_database_factory: MigratedDatabaseFactory) -> str:
    return await migrated_database_factory("referrals")


def _settings(url: str, *, leads_per_hour: int = 10, leads_per_day: int = 30) -> ReferralsSettings:
    # small pools: both apps live for the worker's whole session beside other services'
    # apps on one PostgreSQL (max_connections 300 for two workers); a hundred requests at
    # once still race, twenty connections at a time
    return ReferralsSettings(
        database_url=url,
        database_pool_size=10,
        bus_enabled=False,
        leads_per_hour=leads_per_hour,
        leads_per_day=leads_per_day,
    )


@pytest.fixture(scope="session")
async def app(referrals_url: str, minter: TokenMinter) -> AsyncIterator[FastAPI]:
    settings = _settings(referrals_url, leads_per_hour=UNLIMITED, leads_per_day=UNLIMITED)
    async with running(create_app(settings, token_verifier=minter.verifier())) as app:
        yield app


@pytest.fixture(scope="session")
async def strict_app(referrals_url: str, minter: TokenMinter) -> AsyncIterator[FastAPI]:
    async with running(
        create_app(_settings(referrals_url), token_verifier=minter.verifier())
    ) as app:
        yield app


@pytest.fixture(scope="session")
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with service_client(app, base_url="http://referrals") as client:
        yield client


@pytest.fixture(scope="session")
async def strict_client(strict_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with service_client(strict_app, base_url="http://referrals") as client:
        yield client


@pytest.fixture(scope="session")
def database(app: FastAPI) -> Database:
    database: Database = app.state.database
    return database


@pytest.fixture(scope="session")
def strict_database(strict_app: FastAPI) -> Database:
    database: Database = strict_app.state.database
    return database


@pytest.fixture
def make_member(minter: TokenMinter) -> Callable[..., Member]:
    def make(*roles: str) -> Member:
        user_id = uuid.uuid4()
        return Member(user_id, minter.headers(user_id, roles or ("fan",)))

    return make


@pytest.fixture
def staff(make_member: Callable[..., Member]) -> Member:
    return make_member("staff")


@pytest.fixture(scope="session")
def phones() -> Phones:
    return Phones()
