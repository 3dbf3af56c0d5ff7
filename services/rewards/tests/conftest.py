"""Fixtures for rewards's tests: one migrated PostgreSQL database and one app for the whole
session (tests use fresh users, accounts, so they do not see each other), with
tokens from the session's ``minter`` and the bus off (what would be published is read from
the outbox; what reaches Kafka is tested end to end in ``tests/``)."""

import uuid
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi import FastAPI

from kit.db import Database
from kit.testing.plugin import MigratedDatabaseFactory
from kit.testing.services import running, service_client
from kit.testing.tokens import TokenMinter
from services.rewards.app import create_app
from services.rewards.config import RewardsSettings
from services.rewards.tests.support import User


@pytest.fixture(scope="session")
async def rewards_url(migrated_database_factory: MigratedDatabaseFactory) -> str:
    return await migrated_database_factory("rewards")


@pytest.fixture(scope="session")
async def app(rewards_url: str, minter: TokenMinter) -> AsyncIterator[FastAPI]:
    settings = RewardsSettings(database_url=rewards_url, database_pool_size=40, bus_enabled=False)
    async with running(create_app(settings, token_verifier=minter.verifier())) as app:
        yield app


@pytest.fixture(scope="session")
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with service_client(app, base_url="http://rewards") as client:
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
