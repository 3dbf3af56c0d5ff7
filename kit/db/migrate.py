"""Alembic migrations for every service, one history per service.

Each service keeps its scripts in ``services/<name>/migrations/`` with an ``env.py``
that calls :func:`run_migrations`. Run them with::

    python -m kit.db.migrate identity upgrade            # to head
    python -m kit.db.migrate identity revision -m "add x" # autogenerate a new script
    python -m kit.db.migrate identity check              # fail if models and scripts differ
    python -m kit.db.migrate identity downgrade base     # undo (a revision or "base")

Tests and tools call :func:`upgrade` with an explicit database URL.
"""

import argparse
import asyncio
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

REPO_ROOT = Path(__file__).resolve().parents[2]
URL_ATTRIBUTE = "database_url"
# Held for the migration's transaction on PostgreSQL, so that replicas starting together
# (one init container each) migrate one after the other instead of failing.
MIGRATION_LOCK = 0x7061646D6967  # "padmig"


def alembic_config(service: str, database_url: str | None = None) -> Config:
    """An Alembic config pointing at ``services/<service>/migrations``."""
    script_location = REPO_ROOT / "services" / service / "migrations"
    if not script_location.is_dir():
        raise SystemExit(f"no migrations for service {service!r} at {script_location}")
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("path_separator", "os")
    if database_url:
        config.attributes[URL_ATTRIBUTE] = database_url
    return config


def upgrade(service: str, database_url: str, revision: str = "head") -> None:
    """Apply ``service``'s migrations to ``database_url`` (blocking; call in a thread)."""
    command.upgrade(alembic_config(service, database_url), revision)


def run_migrations(metadata: MetaData, default_url: str) -> None:
    """Body of every service's ``env.py``: migrate online through an async engine."""
    url = context.config.attributes.get(URL_ATTRIBUTE) or default_url
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    asyncio.run(_run_online(metadata, url))


async def _run_online(metadata: MetaData, url: str) -> None:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(_migrate, metadata)
    await engine.dispose()


def _migrate(connection: Connection, metadata: MetaData) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        context.run_migrations()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("service")
    sub = parser.add_subparsers(dest="action", required=True)
    up = sub.add_parser("upgrade")
    up.add_argument("revision", nargs="?", default="head")
    rev = sub.add_parser("revision")
    rev.add_argument("-m", "--message", required=True)
    down = sub.add_parser("downgrade")
    down.add_argument("revision")
    sub.add_parser("check")
    args = parser.parse_args()
    config = alembic_config(args.service)
    if args.action == "upgrade":
        command.upgrade(config, args.revision)
    elif args.action == "downgrade":
        command.downgrade(config, args.revision)
    elif args.action == "revision":
        command.revision(config, message=args.message, autogenerate=True)
    else:
        command.check(config)


if __name__ == "__main__":
    main()
