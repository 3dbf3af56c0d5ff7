"""Statements that run alone, without the ORM: :class:`DirectStatements`.

The ORM session is made for units of work; a page that renders one row, or a hot write
whose whole effect is one statement, pays for it anyway: a session and its identity map,
a pooled SQLAlchemy connection checked out and reset (its isolation level switched to
autocommit and back), the statement's compile state, one object per row, and greenlet
switches on every round trip. Measured in-process on PostgreSQL (ADR 0010): an event-page
read through the ORM session costs three times what asyncpg spends on it, and a write
through :func:`kit.db.execute_alone` on the engine twice. :class:`DirectStatements` runs
one SQLAlchemy Core (or ``text()``) statement in autocommit and returns its rows as dicts:

* on PostgreSQL on an asyncpg pool of its own (at most the service's pool size), the
  statement compiled once for asyncpg (cached per statement object: build statements once,
  at import) and kept prepared by asyncpg on each connection; parameters go to asyncpg as
  they are (UUIDs, strings, numbers, aware datetimes);
* on SQLite (``make run``'s embedded default) through the service's engine, one
  transaction per statement.

Endpoints read through ``kit.db.ReadsDep``; hot one-statement writes go through
:func:`kit.db.execute_alone`. A database that is away raises asyncpg's connection errors,
which kit answers with 503 and ``Retry-After`` (:mod:`kit.problems`), as it does the ORM's.
"""

import asyncio
import functools
from collections.abc import Mapping
from typing import Any

import asyncpg
from sqlalchemy import Select, TextClause
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

Row = Mapping[str, Any]
Statement = Select[Any] | TextClause
_ASYNCPG = PGDialect_asyncpg()


@functools.lru_cache(maxsize=512)
def _compiled(statement: Statement) -> tuple[str, tuple[str, ...], Mapping[str, Any]]:
    """``statement`` as asyncpg's SQL, the names of its ``$n`` parameters in order, and the
    values bound in the statement itself."""
    compiled = statement.compile(dialect=_ASYNCPG)
    return compiled.string, tuple(compiled.positiontup or ()), compiled.params


async def _nothing_to_reset(_: asyncpg.Connection) -> None:
    """Statements run alone change no session state (no ``SET``, ``LISTEN``, advisory
    locks or cursors), so a connection goes back to the pool as it is: asyncpg's default
    reset would cost a round trip on every release (asyncpg still rolls back a transaction
    left open)."""


class DirectStatements:
    """Run single statements in autocommit without the ORM; rows come back as dicts of
    column labels."""

    def __init__(self, url: str, engine: AsyncEngine, *, pool_size: int) -> None:
        self.engine = engine
        self.pool_size = pool_size
        parsed = make_url(url)
        self._dsn = (
            parsed.set(drivername="postgresql").render_as_string(hide_password=False)
            if parsed.get_backend_name() == "postgresql"
            else None
        )
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()

    async def one(self, statement: Statement, **params: Any) -> Row | None:
        """The first row of ``statement`` with ``params``, or ``None``."""
        rows = await self.all(statement, **params)
        return rows[0] if rows else None

    async def all(self, statement: Statement, **params: Any) -> list[Row]:
        """Every row of ``statement`` with ``params`` (none for a write without
        ``RETURNING``)."""
        if self._dsn is None:
            async with self.engine.begin() as connection:
                result = await connection.execute(statement, params)
                return [dict(row) for row in result.mappings()] if result.returns_rows else []
        sql, names, bound = _compiled(statement)
        arguments = [params[name] if name in params else bound[name] for name in names]
        pool = self._pool or await self._open()
        return [dict(record) for record in await pool.fetch(sql, *arguments)]

    async def _open(self) -> asyncpg.Pool:
        """The pool, opened by the first statement (single-flight); it reconnects by itself."""
        async with self._opening:
            if self._pool is None:
                assert self._dsn is not None
                self._pool = await asyncpg.create_pool(
                    self._dsn, min_size=0, max_size=self.pool_size, reset=_nothing_to_reset
                )
            return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
