"""Every service's migrations build its schema on SQLite (``make run``) and PostgreSQL
(production), the schema they build is exactly what its models declare, and they
downgrade to nothing and upgrade again to the same schema.

Each check runs in a fresh process: a service's ``env.py`` must see only its own tables.
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


def migrate(service: str, url: str, *action: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, f"{service.upper()}_DATABASE_URL": url, "PADDOCK_ENV": "development"}
    return subprocess.run(
        [sys.executable, "-m", "kit.db.migrate", service, *action],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_every_service_has_migrations() -> None:
    with_app = sorted(p.parent.name for p in (REPO_ROOT / "services").glob("*/app.py"))
    assert with_app == SERVICES


def round_trip(service: str, url: str) -> None:
    for action in (["upgrade"], ["check"], ["downgrade", "base"], ["upgrade"], ["check"]):
        result = migrate(service, url, *action)
        assert result.returncode == 0, f"{action}: {result.stdout}{result.stderr}"


@pytest.mark.parametrize("service", SERVICES)
def test_migrations_round_trip_on_sqlite(service: str, tmp_path: Path) -> None:
    round_trip(service, f"sqlite+aiosqlite:///{tmp_path / service}.db")


@pytest.mark.parametrize("service", SERVICES)
def test_migrations_round_trip_on_postgresql(
    service: str, postgres_database_factory: Callable[[str], str]
) -> None:
    round_trip(service, postgres_database_factory(f"migrations_{service}"))
