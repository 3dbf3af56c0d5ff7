"""Alembic environment of content: its schema (``models.METADATA``: its tables and kit's) on
its own database."""

from kit.db.migrate import run_migrations
from services.content.config import ContentSettings
from services.content.models import METADATA

run_migrations(METADATA, ContentSettings().database_url)
