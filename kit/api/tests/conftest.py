"""A database on each backend a service runs on: real PostgreSQL, and SQLite (make run)."""

from collections.abc import AsyncIterator

import pytest

from kit.db import Database


@pytest.fixture
async def database(any_backend_url: str) -> AsyncIterator[Database]:
    database = Database(any_backend_url, service="test")
    yield database
    await database.dispose()
