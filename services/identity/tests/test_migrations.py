"""Identity's migrations downgrade cleanly and upgrade again to exactly the models, on
SQLite and PostgreSQL (``tests/test_migrations.py`` checks the first upgrade of every
service)."""

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

from kit.db.migrate import alembic_config, upgrade
from services.identity import models  # noqa: F401  (registers the tables)


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, SQLModel.metadata))


async def _assert_matches_models(url: str) -> None:
    await asyncio.to_thread(upgrade, "identity", url)
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(_diff) == []
    finally:
        await engine.dispose()


def _downgrade_to_base(url: str) -> None:
    command.downgrade(alembic_config("identity", url), "base")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_downgrade_and_upgrade_again(
    backend: str, tmp_path: Path, postgres_database_factory: Callable[[str], str]
) -> None:
    url = (
        f"sqlite+aiosqlite:///{tmp_path / 'identity.db'}"
        if backend == "sqlite"
        else postgres_database_factory("identity_down")
    )
    await asyncio.to_thread(upgrade, "identity", url)
    await asyncio.to_thread(_downgrade_to_base, url)
    await _assert_matches_models(url)
