"""Database access for every service: engine, unit of work and the session dependencies.

Services never commit. The sanctioned ways to reach the database (ADR 0002):

* ``SessionDep`` — the request's unit of work (:meth:`Database.transaction`, also what
  consumers run in): commits once when the endpoint returns, rolls back on any error, then
  runs the :func:`after_commit` callbacks (the outbox relay publishes right after).
  A :class:`kit.problems.Problem` raised with ``commit=True`` is a refusal whose cause must
  stay recorded (a failed login counted): the unit of work commits, then answers it.
* ``ReadsDep`` — the hot read endpoints: Core statements without the ORM, rows as
  dicts, on PostgreSQL straight on asyncpg (:mod:`kit.db.direct`, ADR 0010).
* ``ReadSessionDep`` — read-only endpoints that want ORM objects: each statement in
  autocommit, no ``BEGIN``.
* :func:`execute_alone` — a hot path whose whole write is one statement, run before the
  unit of work begins (the signup rush), the same direct way.
* ``session.begin_nested()`` — a savepoint around a step that may lose a race on a unique
  key, so the unit of work can read the winner and go on.

:func:`dialect_insert` and :func:`upsert` are the portable ``INSERT ... ON CONFLICT``.

Tables never live in SQLModel's one global ``SQLModel.metadata``: kit's own tables derive
from :class:`KitTable` (in :data:`KIT_METADATA`, every service's database has them) or
:class:`OptInKitTable` (a service stores them when it names them), and each service's
tables from a base of its own with a fresh MetaData (:mod:`kit.db.metadata`).
"""

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

from asyncpg.exceptions import IntegrityConstraintViolationError
from fastapi import Depends, Request
from sqlalchemy import DateTime, MetaData, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import registry
from sqlalchemy.types import TypeDecorator
from sqlmodel import SQLModel

from kit.db.direct import DirectStatements, Statement
from kit.problems import Problem

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_metadata() -> MetaData:
    """An empty MetaData with the constraint naming convention every migration relies on."""
    return MetaData(naming_convention=NAMING_CONVENTION)


KIT_METADATA = new_metadata()
"""kit's tables that every service's database holds: the outbox, processed events, audit
records. :func:`kit.db.metadata.service_registry` copies them into each service's MetaData."""

OPT_IN_METADATA = new_metadata()
"""kit's tables a service holds only when it asks for them (the idempotency replay record)."""


class KitTable(SQLModel, registry=registry(metadata=KIT_METADATA)):
    """Base of kit's table models that every service's database has (``table=True``)."""


class OptInKitTable(SQLModel, registry=registry(metadata=OPT_IN_METADATA)):
    """Base of kit's table models a service stores by naming them in its registry."""


AFTER_CREATE_KEY = "paddock.after_create"
"""``Table.info`` key of the DDL a kit table needs right after ``CREATE TABLE`` (the outbox's
ordering trigger): copies of the table in a service's MetaData get it too."""

AFTER_COMMIT_KEY = "paddock.after_commit"
SERVICE_KEY = "paddock.service"
DIRECT_KEY = "paddock.direct"


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: use timezone-aware UTC values")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def after_commit(session: AsyncSession, callback: Callable[[], Any]) -> None:
    """Run ``callback`` once the unit of work that owns ``session`` has committed."""
    session.info.setdefault(AFTER_COMMIT_KEY, []).append(callback)


def _engine_for(url: str, pool_size: int) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    # No pool_pre_ping: it costs a round trip per checkout. A connection that died with a
    # database restart fails one request (a 503 with Retry-After, see kit.problems), and
    # SQLAlchemy then invalidates the whole pool; tests/test_faults.py shows it healing
    # within a second of PostgreSQL's restart without it.
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class Database:
    """One service's database: an engine, a session factory and the unit of work.

    ``session_info`` is copied into every session's ``info``: the service's name (the
    source of the events it publishes, see :func:`service_of`), its
    :class:`DirectStatements` (for :func:`execute_alone`) and the outbox relay's wake-up
    callback.
    """

    def __init__(self, url: str, *, service: str, pool_size: int = 10) -> None:
        self.url = url
        self.service = service
        self.engine = _engine_for(url, pool_size)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        reads = (
            self.engine
            if self.is_sqlite
            else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        self.read_sessionmaker = async_sessionmaker(reads, expire_on_commit=False)
        self.direct = DirectStatements(url, self.engine, pool_size=pool_size)
        self.session_info: dict[str, Any] = {SERVICE_KEY: service, DIRECT_KEY: self.direct}

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """Yield a session; commit when the block ends cleanly (or with a ``Problem`` raised
        with ``commit=True``, which is re-raised after the commit), roll back otherwise."""
        async with self.sessionmaker() as session:
            session.info.update(self.session_info)
            try:
                yield session
            except Problem as refusal:
                if not refusal.commit:
                    await session.rollback()
                    raise
                await self._commit(session)
                raise
            except BaseException:
                await session.rollback()
                raise
            await self._commit(session)

    @staticmethod
    async def _commit(session: AsyncSession) -> None:
        try:
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
        for callback in session.info.pop(AFTER_COMMIT_KEY, []):
            callback()

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """Yield a session for reads only: on PostgreSQL each statement runs on its own
        (autocommit), so a one-query endpoint costs one round trip instead of three
        (``BEGIN``, the query, ``COMMIT``). A single statement sees one snapshot either way;
        several statements may see different ones. Nothing may be written through it."""
        async with self.read_sessionmaker() as session:
            yield session
            if session.new or session.dirty or session.deleted:
                raise RuntimeError("a read session must not change objects")

    async def ping(self) -> None:
        """Raise when the database cannot answer a trivial query."""
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.direct.close()
        await self.engine.dispose()


async def execute_alone(
    session: AsyncSession, statement: Statement, params: dict[str, Any] | None = None
) -> list[Mapping[str, Any]]:
    """Run one self-contained statement as its own transaction and return its rows.

    For a hot path whose whole write is one statement (data-modifying CTEs included): it
    runs in autocommit on the database's :class:`DirectStatements`, so its row locks last
    only while the database executes and commits it, instead of also across the round trip
    back to this process and the event loop's turn before ``COMMIT``. It is atomic by
    itself: an error aborts all of it; a constraint it violates raises SQLAlchemy's
    ``IntegrityError``, as the unit of work would. Allowed only while ``session``'s unit of
    work has not begun, since nothing before it could be rolled back with it;
    :func:`after_commit` callbacks registered on ``session`` still run when the unit of
    work ends.
    """
    if session.in_transaction():
        raise RuntimeError("execute_alone() needs a unit of work that has not begun")
    direct: DirectStatements = session.info[DIRECT_KEY]
    try:
        return await direct.all(statement, **(params or {}))
    except IntegrityConstraintViolationError as exc:
        raise IntegrityError(str(statement), params, exc) from exc


def service_of(session: AsyncSession) -> str:
    """The name of the service whose database ``session`` belongs to."""
    service: str = session.info[SERVICE_KEY]
    return service


def dialect_insert(session: AsyncSession, model: Any) -> Any:
    """``INSERT`` into ``model`` with ``ON CONFLICT`` clauses, for the session's backend
    (PostgreSQL or SQLite, whose statements share ``on_conflict_do_nothing/update``)."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(model)


def upsert(
    session: AsyncSession,
    model: Any,
    values: Mapping[str, Any],
    *,
    key: Sequence[str],
    update: Sequence[str],
) -> Any:
    """Insert ``values``; on a conflict over ``key`` set the ``update`` columns to them."""
    statement = dialect_insert(session, model).values(**values)
    return statement.on_conflict_do_update(
        index_elements=list(key),
        set_={column: statement.excluded[column] for column in update},
    )


async def _request_session(request: Request) -> AsyncIterator[AsyncSession]:
    database: Database = request.app.state.database
    async with database.transaction() as session:
        yield session


async def _read_session(request: Request) -> AsyncIterator[AsyncSession]:
    database: Database = request.app.state.database
    async with database.reading() as session:
        yield session


async def _direct(request: Request) -> DirectStatements:
    database: Database = request.app.state.database
    return database.direct


SessionDep = Annotated[AsyncSession, Depends(_request_session, scope="function")]
ReadSessionDep = Annotated[AsyncSession, Depends(_read_session, scope="function")]
"""For read-only endpoints (see :meth:`Database.reading`)."""
ReadsDep = Annotated[DirectStatements, Depends(_direct)]
"""For the hottest reads (see :class:`kit.db.direct.DirectStatements`); a plain async
dependency, so FastAPI enters no context manager for it."""
