"""Alembic environment of events: its schema (``models.METADATA``: its tables and kit's) on
its own database."""

from kit.db.migrate import run_migrations
from services.events.config import EventsSettings
from services.events.models import METADATA

run_migrations(METADATA, EventsSettings().database_url)
