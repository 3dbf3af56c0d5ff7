"""Every service's migrations build its schema on SQLite (``make run``) and PostgreSQL
(production), the schema they build is exactly what its models declare, and they
downgrade to nothing and upgrade again to the same schema.

Each service's round trip runs in a fresh process: its ``env.py`` must see only its own
tables.
"""

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from devstack import REPO_ROOT

SERVICES = sorted(
    p.parent.parent.name for p in (REPO_ROOT / "services").glob("*/migrations/env.py")
)


ROUND_TRIP = """
import sys
from alembic import command
from kit.db.migrate import alembic_config

config = alembic_config(sys.argv[1], sys.argv[2])
for step, run in [
    ("upgrade", lambda: command.upgrade(config, "head")),
    ("check", lambda: command.check(config)),
    ("downgrade to base", lambda: command.downgrade(config, "base")),
    ("upgrade again", lambda: command.upgrade(config, "head")),
    ("check again", lambda: command.check(config)),
]:
    print("step:", step, flush=True)
    run()
"""


def round_trip(service: str, url: str) -> None:
    """Upgrade, check, downgrade to base, upgrade, check: in one process of its own."""
    result = subprocess.run(
        [sys.executable, "-c", ROUND_TRIP, service, url],
        env={**os.environ, "PADDOCK_ENV": "development"},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"{result.stdout}{result.stderr}"


def test_every_service_has_migrations() -> None:
    with_app = sorted(p.parent.name for p in (REPO_ROOT / "services").glob("*/app.py"))
    assert with_app == SERVICES


@pytest.mark.parametrize("service", SERVICES)
def test_migrations_round_trip_on_sqlite(service: str, tmp_path: Path) -> None:
    round_trip(service, f"sqlite+aiosqlite:///{tmp_path / service}.db")


@pytest.mark.parametrize("service", SERVICES)
def test_migrations_round_trip_on_postgresql(
    service: str, postgres_database_factory: Callable[[str], str]
) -> None:
    round_trip(service, postgres_database_factory(f"migrations_{service}"))
