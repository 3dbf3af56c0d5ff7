"""The caller's own account (read, update, delete) and public profiles."""

import uuid

import httpx
import pytest
from sqlmodel import select

from kit.db import Database
from kit.testing.services import outbox_events
from services.identity.models import RefreshToken, User, Vehicle
from services.identity.tests.support import (
    Account,
    MakeAccount,
    login,
    register,
    row_counts,
)

VIN = "LRW3E7FS5PC123456"


async def test_patch_me_updates_and_publishes(
    client: httpx.AsyncClient, account: Account, database: Database
) -> None:
    body = {
        "display_name": "Ann Lee",
        "bio": "Weekend\nracer",
        "city": "Shanghai",
        "avatar_url": "https://cdn.example.com/a.png",
    }
    response = await client.patch("/v1/me", headers=account.headers, json=body)
    assert response.status_code == 200
    assert {key: response.json()[key] for key in body} == body
    assert (await client.get("/v1/me", headers=account.headers)).json() == response.json()
    [updated] = await outbox_events(
        database, subject=account.id, event_type="identity.user.updated.v1"
    )
    assert updated.data == {
        "user_id": str(account.id),
        "display_name": "Ann Lee",
        "city": "Shanghai",
    }
    assert updated.actor == account.id


async def test_patch_me_partial_and_clearing(
    client: httpx.AsyncClient, account: Account, database: Database
) -> None:
    await client.patch("/v1/me", headers=account.headers, json={"city": "Hefei", "bio": "hi"})
    response = await client.patch("/v1/me", headers=account.headers, json={"city": None})
    assert response.json()["city"] is None
    assert response.json()["bio"] == "hi"
    before = await row_counts(database)
    unchanged = await client.patch("/v1/me", headers=account.headers, json={"bio": "hi"})
    assert unchanged.status_code == 200
    assert await row_counts(database) == before


@pytest.mark.parametrize(
    "body",
    [
        {"role": "admin"},
        {"roles": ["admin"]},
        {"email": "new@example.com"},
        {"display_name": "Ann", "is_owner": True},
        {"display_name": None},
        {"display_name": ""},
        {"display_name": 5},
        {"bio": "x" * 501},
        {"city": "line\nbreak"},
        {"avatar_url": "javascript:alert(1)"},
        {"bio": "nul\x00byte"},
    ],
)
async def test_patch_me_refuses_bad_fields(
    client: httpx.AsyncClient, account: Account, database: Database, body: dict[str, object]
) -> None:
    before_me = (await client.get("/v1/me", headers=account.headers)).json()
    before = await row_counts(database)
    response = await client.patch("/v1/me", headers=account.headers, json=body)
    assert response.status_code == 422
    assert (await client.get("/v1/me", headers=account.headers)).json() == before_me
    assert await row_counts(database) == before


async def test_public_profile_never_shows_email(
    client: httpx.AsyncClient, account: Account, make_account: MakeAccount
) -> None:
    viewer = await make_account()
    await client.patch("/v1/me", headers=account.headers, json={"city": "Hefei"})
    response = await client.get(f"/v1/users/{account.id}", headers=viewer.headers)
    assert response.status_code == 200
    profile = response.json()
    assert profile["city"] == "Hefei"
    assert profile["roles"] == ["fan"]
    assert "email" not in profile
    assert account.email not in response.text


async def test_public_profile_needs_a_token(client: httpx.AsyncClient, account: Account) -> None:
    assert (await client.get(f"/v1/users/{account.id}")).status_code == 401


async def test_unknown_profile_is_404(client: httpx.AsyncClient, account: Account) -> None:
    response = await client.get(f"/v1/users/{uuid.uuid4()}", headers=account.headers)
    assert response.status_code == 404
    assert response.json()["type"].endswith("/not-found")
    bad_id = await client.get("/v1/users/not-a-uuid", headers=account.headers)
    assert bad_id.status_code == 422


async def test_delete_me_erases_personal_data(
    client: httpx.AsyncClient, account: Account, database: Database, make_account: MakeAccount
) -> None:
    await client.patch("/v1/me", headers=account.headers, json={"bio": "mine", "city": "Hefei"})
    await client.post("/v1/me/vehicles", headers=account.headers, json={"vin": VIN, "model": "ET7"})

    assert (await client.delete("/v1/me", headers=account.headers)).status_code == 204

    async with database.transaction() as session:
        user = await session.get(User, account.id)
        assert user is not None
        tokens = (
            await session.scalars(select(RefreshToken).where(RefreshToken.user_id == account.id))
        ).all()
        vehicles = (
            await session.scalars(select(Vehicle).where(Vehicle.user_id == account.id))
        ).all()
    assert account.email not in user.email
    assert user.password_hash is None
    assert (user.display_name, user.bio, user.city, user.avatar_url) == ("", None, None, None)
    assert user.deleted_at is not None
    assert tokens
    assert all(token.revoked_at is not None for token in tokens)
    assert [vehicle.vin for vehicle in vehicles] == [None]
    deleted = (await outbox_events(database, subject=account.id))[-1]
    assert (deleted.type, deleted.actor) == ("identity.user.deleted.v1", account.id)


async def test_deleted_account_is_gone_everywhere(
    client: httpx.AsyncClient, account: Account, make_account: MakeAccount
) -> None:
    viewer = await make_account()
    await client.delete("/v1/me", headers=account.headers)

    assert (await client.get("/v1/me", headers=account.headers)).status_code == 401
    assert (await client.delete("/v1/me", headers=account.headers)).status_code == 401
    assert (await login(client, account.email)).status_code == 401
    refreshed = await client.post("/v1/auth/refresh", json={"refresh_token": account.refresh_token})
    assert refreshed.status_code == 401
    profile = await client.get(f"/v1/users/{account.id}", headers=viewer.headers)
    assert profile.status_code == 404


async def test_email_of_a_deleted_account_can_register_again(
    client: httpx.AsyncClient, account: Account
) -> None:
    await client.delete("/v1/me", headers=account.headers)
    again = await register(client, account.email)
    assert again.status_code == 201
    assert again.json()["id"] != str(account.id)
