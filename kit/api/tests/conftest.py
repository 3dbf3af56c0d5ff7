"""A database on each backend a service runs on: real PostgreSQL, and SQLite (make run)."""

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from kit.db import Database


@pytest.fixture(params=["postgresql", "sqlite"])
async def database(
    request: pytest.FixtureRequest,
    postgres_database_factory: Callable[[str], str],
    tmp_path: Path,
) -> AsyncIterator[Database]:
    if request.param == "postgresql":
        url = postgres_database_factory("kit_api")
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'kit_api.db'}"
    database = Database(url, service="test")
    yield database
    await database.dispose()
