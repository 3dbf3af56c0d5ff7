"""Fixtures for identity's tests: one migrated PostgreSQL database shared by the session,
the app inside its lifespan with the bus off (tests assert what identity stages in its
outbox; what reaches Kafka is tested end to end in ``tests/``), an HTTP client and accounts.
Tests use fresh emails, so they do not depend on each other."""

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from kit.db import Database
from kit.testing.plugin import MigratedDatabaseFactory
from kit.testing.services import running, service_client
from services.identity.app import create_app
from services.identity.tests.support import (
    Account,
    MakeAccount,
    identity_settings,
    new_account,
)


@pytest.fixture(scope="session")
async def identity_database_url(migrated_database_factory: MigratedDatabaseFactory) -> str:
    return await migrated_database_factory("identity")


@pytest.fixture(scope="session")
async def app(identity_database_url: str) -> AsyncIterator[FastAPI]:
    async with running(create_app(identity_settings(identity_database_url))) as application:
        yield application


@pytest.fixture
def database(app: FastAPI) -> Database:
    db: Database = app.state.database
    return db


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with service_client(app) as http:
        yield http


@pytest.fixture
def make_account(client: httpx.AsyncClient, database: Database) -> MakeAccount:
    """``await make_account(roles=("staff",))``: a registered, logged-in account."""

    async def make(roles: tuple[str, ...] = ()) -> Account:
        return await new_account(client, database, roles)

    return make


@pytest.fixture
async def account(make_account: MakeAccount) -> Account:
    return await make_account()


@pytest.fixture
async def admin(make_account: MakeAccount) -> Account:
    return await make_account(roles=("admin",))


@pytest.fixture
async def staff(make_account: MakeAccount) -> Account:
    return await make_account(roles=("staff",))
