"""Alembic environment of webhooks: its schema (``models.METADATA``: its tables and kit's)
on its own database."""

from kit.db.migrate import run_migrations
from services.webhooks.config import WebhooksSettings
from services.webhooks.models import METADATA

run_migrations(METADATA, WebhooksSettings().database_url)
