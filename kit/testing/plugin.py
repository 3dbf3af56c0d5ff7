"""Pytest plugin for the whole repository: a session-wide Kafka broker and PostgreSQL server.

Loaded through ``addopts = "-p kit.testing.plugin"`` in pyproject.toml. It owns these
session-scoped fixtures, each started only when a test first asks for it:

* ``minter -> TokenMinter``: signs access tokens with a throwaway key; ``minter.verifier()``
  is what a service under test verifies them with (no identity needed).
* ``kafka_bootstrap -> str``: bootstrap servers; ``KAFKA_BOOTSTRAP_SERVERS`` when set, else a
  throwaway broker in a temporary directory, stopped at the end of the session.
* ``postgres_server -> str``: a server-level SQLAlchemy asyncpg URL; ``TEST_POSTGRES_URL`` when
  set, else a throwaway PostgreSQL server, stopped and deleted at the end of the session.
* ``own_broker -> KafkaBroker``: a broker of the test's own (function scope), to stop and
  start again; the session's broker is shared and must never be stopped.
* ``any_backend_url -> str``: a fresh empty database on each backend a service runs on
  (parametrized: real PostgreSQL, and SQLite as ``make run`` uses).
* ``migrated_database_factory -> MigratedDatabaseFactory``: ``await new_migrated(service)``
  is a fresh database with that service's migrations applied.
* ``postgres_database_factory -> DatabaseFactory``: ``new_database(prefix) -> url`` creates a
  fresh, uniquely named database (sync; callable from async tests too) and returns its URL.
  The databases are dropped at the end of the session.

When Kafka or PostgreSQL cannot start, the tests that need them fail with the reason; they
never skip.

Under pytest-xdist (``make test`` runs ``-n 2``) the controller starts one broker and one
PostgreSQL server before the first worker and hands their addresses to every worker
(:class:`SharedServers`); each worker still creates databases of its own. Tests share
the broker, so they use topics, consumer groups or subjects of their own. (xdist's
``loadfile``/``loadgroup`` modes are not an option: with them, schemathesis' parametrized
tests run one case and pass, whatever the others would answer.)
"""

import asyncio
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from devstack import DevstackError, run_sync
from devstack.kafka import KafkaBroker
from devstack.postgres import PostgresServer, create_database, drop_database
from kit.db.migrate import upgrade
from kit.testing.tokens import TokenMinter

SHARED_KAFKA = "paddock_kafka"
SHARED_POSTGRES = "paddock_postgres"
DatabaseFactory = Callable[[str], str]
MigratedDatabaseFactory = Callable[[str], Awaitable[str]]


class SharedServers:
    """The xdist controller's broker and PostgreSQL server, started for the first worker."""

    def __init__(self) -> None:
        self.shared: dict[str, str] | None = None
        self._stops: list[Callable[[], None]] = []

    def pytest_configure_node(self, node: object) -> None:
        if self.shared is None:
            self.shared = {**self._start_kafka(), **self._start_postgres()}
        node.workerinput.update(self.shared)  # type: ignore[attr-defined]

    def pytest_unconfigure(self) -> None:
        for stop in reversed(self._stops):
            stop()

    def _start_kafka(self) -> dict[str, str]:
        if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
            return {}
        broker = KafkaBroker(Path(tempfile.mkdtemp(prefix="paddock-kafka-")))
        self._stops.append(broker.stop)
        try:
            broker.start()
            broker.wait_ready()
        except DevstackError as exc:
            return {f"{SHARED_KAFKA}_error": str(exc)}
        return {SHARED_KAFKA: broker.bootstrap_servers}

    def _start_postgres(self) -> dict[str, str]:
        if os.environ.get("TEST_POSTGRES_URL"):
            return {}
        base_dir = Path(tempfile.mkdtemp(prefix="paddock-pg-"))
        server = PostgresServer(base_dir)
        self._stops.append(lambda: shutil.rmtree(base_dir, ignore_errors=True))
        self._stops.append(server.stop)
        try:
            server.start()
        except DevstackError as exc:
            return {f"{SHARED_POSTGRES}_error": str(exc)}
        return {SHARED_POSTGRES: server.url()}


def pytest_configure(config: pytest.Config) -> None:
    is_worker = hasattr(config, "workerinput")
    if (
        not is_worker
        and config.pluginmanager.hasplugin("xdist")
        and config.getoption("numprocesses")
    ):
        config.pluginmanager.register(SharedServers(), "paddock-shared-servers")


def _shared(config: pytest.Config, name: str) -> str | None:
    """What the xdist controller started for the workers (``None`` outside xdist)."""
    shared: dict[str, str] = getattr(config, "workerinput", {})
    if error := shared.get(f"{name}_error"):
        pytest.fail(
            f"cannot start {name.removeprefix('paddock_')} for the tests: {error}", pytrace=False
        )
    return shared.get(name)


@pytest.fixture(scope="session")
def minter() -> TokenMinter:
    """One token minter for the session."""
    return TokenMinter()


@pytest.fixture(scope="session")
def kafka_bootstrap(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Bootstrap servers of a Kafka cluster shared by the whole session."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or _shared(request.config, SHARED_KAFKA)
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
def postgres_server(request: pytest.FixtureRequest) -> Iterator[str]:
    """Server-level SQLAlchemy URL of a PostgreSQL server shared by the whole session."""
    external = os.environ.get("TEST_POSTGRES_URL") or _shared(request.config, SHARED_POSTGRES)
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


@pytest.fixture
async def own_broker(tmp_path: Path) -> AsyncIterator[KafkaBroker]:
    """A broker of this test's own, to stop and start again: the session's is shared."""
    broker = KafkaBroker(tmp_path / "kafka")
    try:
        try:
            broker.start()  # from the event loop's thread: the broker dies with its starter
            await asyncio.to_thread(broker.wait_ready)
        except DevstackError as exc:
            pytest.fail(f"cannot start a Kafka broker of the test's own: {exc}", pytrace=False)
        yield broker
    finally:
        await asyncio.to_thread(broker.stop)


@pytest.fixture(params=["postgresql", "sqlite"])
def any_backend_url(
    request: pytest.FixtureRequest, postgres_database_factory: DatabaseFactory, tmp_path: Path
) -> str:
    """A fresh empty database on PostgreSQL, then on SQLite."""
    if request.param == "postgresql":
        return postgres_database_factory("any_backend")
    return f"sqlite+aiosqlite:///{tmp_path / 'any_backend.db'}"
