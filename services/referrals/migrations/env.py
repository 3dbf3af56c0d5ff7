"""Alembic environment of referrals: its schema (``models.METADATA``: its tables and kit's)
on its own database."""

from kit.db.migrate import run_migrations
from services.referrals.config import ReferralsSettings
from services.referrals.models import METADATA

run_migrations(METADATA, ReferralsSettings().database_url)
