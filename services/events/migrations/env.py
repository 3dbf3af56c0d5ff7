"""Alembic environment of events: its tables (and the outbox's) on its own database."""

from sqlmodel import SQLModel

from kit.db.migrate import run_migrations
from services.events import models  # noqa: F401  (registers the tables)
from services.events.config import EventsSettings

run_migrations(SQLModel.metadata, EventsSettings().database_url)
