"""Alembic environment of rewards: its schema (``models.METADATA``: its tables and kit's) on
its own database."""

from kit.db.migrate import run_migrations
from services.rewards.config import RewardsSettings
from services.rewards.models import METADATA

run_migrations(METADATA, RewardsSettings().database_url)
