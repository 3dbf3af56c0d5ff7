"""Helpers shared by identity's tests: settings, accounts, requests, and counting what
was written (a bad request must change nothing). What identity staged for the bus is read
with :func:`kit.testing.services.outbox_events`."""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlmodel import SQLModel, col

from devstack import run_sync
from kit.audit import AuditRecord
from kit.bus.outbox import OutboxMessage
from kit.db import Database
from services.identity.cli import create_admin
from services.identity.config import IdentitySettings
from services.identity.models import (
    KnownDevice,
    LoginClientThrottle,
    LoginThrottle,
    RefreshToken,
    User,
    UserRole,
    Vehicle,
)
from services.identity.tokens import generate_private_key_pem

PASSWORD = "correct horse battery"
COUNTED: tuple[type[SQLModel], ...] = (
    User,
    UserRole,
    RefreshToken,
    Vehicle,
    LoginThrottle,
    LoginClientThrottle,
    KnownDevice,
    OutboxMessage,
    AuditRecord,
)


@dataclass
class Account:
    id: uuid.UUID
    email: str
    password: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.access_token)


MakeAccount = Callable[..., Awaitable[Account]]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def access_token(http: httpx.Client, email: str) -> str:
    """Log ``email`` in with :data:`PASSWORD` over a synchronous client."""
    response = http.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def superuser_headers(http: httpx.Client, user_id: uuid.UUID, email: str) -> dict[str, str]:
    """Grant an admin staff and volunteer too; return the headers of the fresh token."""
    admin = bearer(access_token(http, email))
    for role in ("staff", "volunteer"):
        granted = http.post(f"/v1/admin/users/{user_id}/roles/{role}", headers=admin)
        assert granted.status_code == 200, granted.text
    return bearer(access_token(http, email))


def new_fan(http: httpx.Client, display_name: str = "Ann") -> dict[str, str]:
    """The headers of a fan registered and logged in over a synchronous client (through the
    gateway, in cross-service tests)."""
    email = new_email()
    body = {"email": email, "password": PASSWORD, "display_name": display_name}
    registered = http.post("/v1/auth/register", json=body)
    assert registered.status_code == 201, registered.text
    return bearer(access_token(http, email))


def new_superuser(http: httpx.Client, database_url: str) -> tuple[uuid.UUID, dict[str, str]]:
    """An admin made by the operator command on identity's ``database_url``, granted staff
    and volunteer through ``http``: their id and the headers of their token."""
    email = new_email()
    user_id = run_sync(
        create_admin(
            identity_settings(database_url), email=email, password=PASSWORD, display_name="Fuzz"
        )
    )
    return user_id, superuser_headers(http, user_id, email)


def identity_settings(
    database_url: str, kafka: str | None = None, **overrides: Any
) -> IdentitySettings:
    """Settings for tests: cheap Argon2 parameters, a fresh signing key; the bus (outbox
    relay) runs only when ``kafka`` is given, else events stay staged in the outbox."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "bus_enabled": kafka is not None,
        **({"kafka_bootstrap_servers": kafka} if kafka else {}),
        "jwt_private_key": generate_private_key_pem().decode(),
        "argon2_time_cost": 1,
        "argon2_memory_cost_kib": 1024,
        "argon2_parallelism": 1,
        **overrides,
    }
    return IdentitySettings(**values)


def new_email() -> str:
    return f"user-{uuid.uuid4().hex[:12]}@example.com"


async def register(
    client: httpx.AsyncClient, email: str | None = None, **fields: Any
) -> httpx.Response:
    body = {"email": email or new_email(), "password": PASSWORD, "display_name": "Ann", **fields}
    return await client.post("/v1/auth/register", json=body)


async def login(
    client: httpx.AsyncClient,
    email: str,
    password: str = PASSWORD,
    *,
    address: str | None = None,
    device: str | None = None,
) -> httpx.Response:
    """Log in; ``address`` as the gateway forwards it (``X-Forwarded-For``), ``device`` as
    ``X-Device-Id``. Without an address the caller is the test client's peer address."""
    headers = {}
    if address is not None:
        headers["X-Forwarded-For"] = address
    if device is not None:
        headers["X-Device-Id"] = device
    body = {"email": email, "password": password}
    return await client.post("/v1/auth/login", json=body, headers=headers)


async def grant(database: Database, user_id: uuid.UUID, *roles: str) -> None:
    async with database.transaction() as session:
        session.add_all(UserRole(user_id=user_id, role=role) for role in roles)


async def row_counts(database: Database) -> dict[str, int]:
    async with database.transaction() as session:
        counts: dict[str, int] = {}
        for model in COUNTED:
            query = select(func.count()).select_from(model)
            counts[str(model.__tablename__)] = await session.scalar(query) or 0
        return counts


async def new_account(
    client: httpx.AsyncClient, database: Database, roles: tuple[str, ...] = ()
) -> Account:
    """A registered, logged-in account holding ``roles`` (besides fan)."""
    email = new_email()
    registered = await register(client, email)
    assert registered.status_code == 201, registered.text
    user_id = uuid.UUID(registered.json()["id"])
    await grant(database, user_id, *roles)
    tokens = await login(client, email)
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    return Account(user_id, email, PASSWORD, body["access_token"], body["refresh_token"])


async def audit_records(database: Database, subject: object) -> list[AuditRecord]:
    """The audit records about ``subject``, oldest first."""
    query = (
        select(AuditRecord)
        .where(col(AuditRecord.subject_id) == str(subject))
        .order_by(col(AuditRecord.at), col(AuditRecord.id))
    )
    async with database.reading() as session:
        return list((await session.scalars(query)).all())
