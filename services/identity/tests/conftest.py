"""Fixtures for identity's tests: one migrated PostgreSQL database shared by the session,
a real Kafka broker for the outbox relay, the app inside its lifespan, an HTTP client and
accounts. Tests use fresh emails, so they do not depend on each other."""

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from kit.db import Database
from kit.testing.plugin import MigratedDatabaseFactory
from services.identity.app import create_app
from services.identity.tests.support import (
    PASSWORD,
    Account,
    MakeAccount,
    grant,
    identity_settings,
    login,
    new_email,
    register,
)


@pytest.fixture(scope="session")
async def identity_database_url(migrated_database_factory: MigratedDatabaseFactory) -> str:
    return await migrated_database_factory("identity")


@pytest.fixture(scope="session")
async def app(identity_database_url: str, kafka_bootstrap: str) -> AsyncIterator[FastAPI]:
    application = create_app(identity_settings(identity_database_url, kafka_bootstrap))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def database(app: FastAPI) -> Database:
    db: Database = app.state.database
    return db


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@pytest.fixture
def make_account(client: httpx.AsyncClient, database: Database) -> MakeAccount:
    """``await make_account(roles=("staff",))``: a registered, logged-in account."""

    async def make(roles: tuple[str, ...] = ()) -> Account:
        email = new_email()
        registered = await register(client, email)
        assert registered.status_code == 201, registered.text
        user_id = uuid.UUID(registered.json()["id"])
        await grant(database, user_id, *roles)
        tokens = await login(client, email)
        assert tokens.status_code == 200, tokens.text
        body = tokens.json()
        return Account(user_id, email, PASSWORD, body["access_token"], body["refresh_token"])

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
