"""Role administration: admins only, owner and fan not assignable, events published with
the admin as their actor, every change in the audit record."""

import uuid

import httpx
import jwt
import pytest

from kit.db import Database
from kit.testing.services import outbox_events
from services.identity.tests.support import (
    Account,
    MakeAccount,
    audit_records,
    login,
    row_counts,
)

ROLE_CHANGED = "identity.user.role_changed.v1"


def _roles_url(user_id: uuid.UUID, role: str) -> str:
    return f"/v1/admin/users/{user_id}/roles/{role}"


async def test_admin_grants_and_revokes(
    client: httpx.AsyncClient, admin: Account, account: Account, database: Database
) -> None:
    granted = await client.post(_roles_url(account.id, "volunteer"), headers=admin.headers)
    assert granted.status_code == 200
    assert granted.json() == {"user_id": str(account.id), "roles": ["fan", "volunteer"]}
    again = await client.post(_roles_url(account.id, "volunteer"), headers=admin.headers)
    assert again.json()["roles"] == ["fan", "volunteer"]

    tokens = (await login(client, account.email)).json()
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert claims["roles"] == ["fan", "volunteer"]

    revoked = await client.delete(_roles_url(account.id, "volunteer"), headers=admin.headers)
    assert revoked.json()["roles"] == ["fan"]

    changes = await outbox_events(database, subject=account.id, event_type=ROLE_CHANGED)
    assert [(c.data["granted"], c.data["revoked"]) for c in changes] == [
        (["volunteer"], []),
        ([], ["volunteer"]),
    ]
    assert all(change.data["changed_by"] == str(admin.id) for change in changes)
    assert [change.actor for change in changes] == [admin.id, admin.id]
    records = await audit_records(database, account.id)
    assert [(r.action, r.actor_id, r.detail) for r in records] == [
        ("role.granted", admin.id, {"role": "volunteer"}),
        ("role.revoked", admin.id, {"role": "volunteer"}),
    ], "one record per change: the repeated grant changed nothing"


async def test_non_admin_is_403(
    client: httpx.AsyncClient, make_account: MakeAccount, account: Account, database: Database
) -> None:
    staff = await make_account(roles=("staff",))
    before = await row_counts(database)
    for caller in (account, staff):
        response = await client.post(_roles_url(account.id, "admin"), headers=caller.headers)
        assert response.status_code == 403
        assert response.json()["type"].endswith("/forbidden")
    assert await row_counts(database) == before
    events = await outbox_events(database, subject=account.id)
    assert [event.type for event in events] == ["identity.user.registered.v1"]


async def test_revoked_admin_is_refused_at_once(
    client: httpx.AsyncClient, make_account: MakeAccount, admin: Account, account: Account
) -> None:
    other_admin = await make_account(roles=("admin",))
    await client.delete(_roles_url(other_admin.id, "admin"), headers=admin.headers)
    response = await client.post(_roles_url(account.id, "staff"), headers=other_admin.headers)
    assert response.status_code == 403


@pytest.mark.parametrize("role", ["owner", "fan"])
async def test_owner_and_fan_are_not_assignable(
    client: httpx.AsyncClient, admin: Account, account: Account, database: Database, role: str
) -> None:
    before = await row_counts(database)
    for method in (client.post, client.delete):
        response = await method(_roles_url(account.id, role), headers=admin.headers)
        assert response.status_code == 422
        assert response.json()["type"].endswith("/role-not-assignable")
    assert await row_counts(database) == before


async def test_unknown_role_and_user(
    client: httpx.AsyncClient, admin: Account, database: Database
) -> None:
    before = await row_counts(database)
    unknown_role = await client.post(_roles_url(admin.id, "superuser"), headers=admin.headers)
    assert unknown_role.status_code == 422
    unknown_user = await client.post(_roles_url(uuid.uuid4(), "staff"), headers=admin.headers)
    assert unknown_user.status_code == 404
    assert await row_counts(database) == before


async def test_admin_cannot_demote_themselves(
    client: httpx.AsyncClient, admin: Account, database: Database
) -> None:
    before = await row_counts(database)
    response = await client.delete(_roles_url(admin.id, "admin"), headers=admin.headers)
    assert response.status_code == 409
    assert await row_counts(database) == before


async def test_deleted_user_cannot_get_roles(
    client: httpx.AsyncClient, admin: Account, account: Account
) -> None:
    await client.delete("/v1/me", headers=account.headers)
    response = await client.post(_roles_url(account.id, "staff"), headers=admin.headers)
    assert response.status_code == 404
