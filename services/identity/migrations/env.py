"""Alembic environment of identity: its schema (``models.METADATA``: its tables and kit's) on
its own database."""

from kit.db.migrate import run_migrations
from services.identity.config import IdentitySettings
from services.identity.models import METADATA

run_migrations(METADATA, IdentitySettings().database_url)
