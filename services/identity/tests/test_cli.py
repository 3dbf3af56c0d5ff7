"""``python -m services.identity.cli create-admin``: the operator's first administrator."""

import asyncio

import httpx
import jwt
import pytest

from kit.db import Database
from kit.testing.services import outbox_events
from services.identity import cli
from services.identity.tests.support import (
    PASSWORD,
    Account,
    audit_records,
    login,
    new_email,
    row_counts,
)


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, identity_database_url: str) -> None:
    monkeypatch.setenv("IDENTITY_DATABASE_URL", identity_database_url)
    monkeypatch.setenv("IDENTITY_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("IDENTITY_ARGON2_MEMORY_COST_KIB", "1024")
    monkeypatch.setenv("IDENTITY_ARGON2_PARALLELISM", "1")
    monkeypatch.setenv(cli.PASSWORD_ENV, PASSWORD)


def _roles(token: str) -> list[str]:
    roles: list[str] = jwt.decode(token, options={"verify_signature": False})["roles"]
    return roles


@pytest.mark.usefixtures("cli_env")
async def test_create_admin(client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]) -> None:
    email = new_email()
    await asyncio.to_thread(cli.main, ["create-admin", "--email", email.upper()])
    assert f"admin {email} ready" in capsys.readouterr().out
    tokens = (await login(client, email)).json()
    assert _roles(tokens["access_token"]) == ["admin", "fan"]


@pytest.mark.usefixtures("cli_env")
async def test_create_admin_promotes_an_existing_account(
    client: httpx.AsyncClient, account: Account, database: Database
) -> None:
    await asyncio.to_thread(cli.main, ["create-admin", "--email", account.email])
    tokens = (await login(client, account.email)).json()
    assert _roles(tokens["access_token"]) == ["admin", "fan"]
    change = (await outbox_events(database, subject=account.id))[-1]
    assert change.type == "identity.user.role_changed.v1"
    assert change.actor is None, "the operator's command is the system acting"
    assert await audit_records(database, account.id) == []


@pytest.mark.usefixtures("cli_env")
async def test_create_admin_refuses_a_weak_password(
    monkeypatch: pytest.MonkeyPatch, database: Database
) -> None:
    monkeypatch.setenv(cli.PASSWORD_ENV, "123")
    before = await row_counts(database)
    with pytest.raises(SystemExit, match="at least 10 characters"):
        await asyncio.to_thread(cli.main, ["create-admin", "--email", new_email()])
    assert await row_counts(database) == before
