"""Pytest plugin for the whole repository: a session-wide Kafka broker and PostgreSQL server.

Loaded through ``addopts = "-p kit.testing.plugin"`` in pyproject.toml. It owns these
session-scoped fixtures, each started only when a test first asks for it:

* ``minter -> TokenMinter``: signs access tokens with a throwaway key; ``minter.verifier()``
  is what a service under test verifies them with (no identity needed).
* ``kafka_bootstrap -> str``: bootstrap servers; ``KAFKA_BOOTSTRAP_SERVERS`` when set, else a
  throwaway broker in a temporary directory, stopped at the end of the session.
* ``postgres_server -> str``: a server-level SQLAlchemy asyncpg URL; ``TEST_POSTGRES_URL`` when
  set, else a throwaway PostgreSQL server, stopped and deleted at the end of the session.
* ``migrated_database_factory -> MigratedDatabaseFactory``: ``await new_migrated(service)``
  is a fresh database with that service's migrations applied.
* ``postgres_database_factory -> DatabaseFactory``: ``new_database(prefix) -> url`` creates a
  fresh, uniquely named database (sync; callable from async tests too) and returns its URL.
  The databases are dropped at the end of the session.

When Kafka or PostgreSQL cannot start, the tests that need them fail with the reason; they
never skip.
"""

import asyncio
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from devstack import DevstackError, run_sync
from devstack.kafka import KafkaBroker
from devstack.postgres import PostgresServer, create_database, drop_database
from kit.db.migrate import upgrade
from kit.testing.tokens import TokenMinter

DatabaseFactory = Callable[[str], str]
MigratedDatabaseFactory = Callable[[str], Awaitable[str]]


@pytest.fixture(scope="session")
def minter() -> TokenMinter:
    """One token minter for the session."""
    return TokenMinter()


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap servers of a Kafka cluster shared by the whole session."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    broker = KafkaBroker(tmp_path_factory.mktemp("kafka"))
    try:
        try:
            broker.start()
            broker.wait_ready()
        except DevstackError as exc:
            pytest.fail(f"cannot start Kafka for the tests: {exc}", pytrace=False)
        yield broker.bootstrap_servers
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """Server-level SQLAlchemy URL of a PostgreSQL server shared by the whole session."""
    external = os.environ.get("TEST_POSTGRES_URL")
    if external:
        yield external
        return
    base_dir = Path(tempfile.mkdtemp(prefix="paddock-pg-"))  # reachable by the postgres user
    server = PostgresServer(base_dir)
    try:
        try:
            server.start()
        except DevstackError as exc:
            pytest.fail(f"cannot start PostgreSQL for the tests: {exc}", pytrace=False)
        yield server.url()
    finally:
        server.stop()
        shutil.rmtree(base_dir, ignore_errors=True)


def _database_name(prefix: str) -> str:
    slug = re.sub(r"[^a-z0-9_]+", "_", prefix.lower()).strip("_")[:40] or "test"
    return f"{slug}_{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def postgres_database_factory(postgres_server: str) -> Iterator[DatabaseFactory]:
    """``new_database(prefix) -> url``: a fresh empty database on the session's server."""
    created: list[str] = []

    def new_database(prefix: str = "test") -> str:
        name = _database_name(prefix)
        url = run_sync(create_database(postgres_server, name))
        created.append(name)
        return url

    yield new_database
    for name in created:
        run_sync(drop_database(postgres_server, name))


@pytest.fixture(scope="session")
def migrated_database_factory(
    postgres_database_factory: DatabaseFactory,
) -> MigratedDatabaseFactory:
    """``await new_migrated(service) -> url``: a fresh database with ``service``'s migrations."""

    async def new_migrated(service: str) -> str:
        url = postgres_database_factory(service)
        await asyncio.to_thread(upgrade, service, url)
        return url

    return new_migrated
