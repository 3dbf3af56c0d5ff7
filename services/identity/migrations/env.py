"""Alembic environment of identity: its tables (and the outbox's) on its own database."""

from sqlmodel import SQLModel

from kit.db.migrate import run_migrations
from services.identity import models  # noqa: F401  (registers the tables)
from services.identity.config import IdentitySettings

run_migrations(SQLModel.metadata, IdentitySettings().database_url)
