"""``GET /v1/admin/users?email=``: staff and admins find an account by its email (exact,
normalized), and every lookup that finds one is in the audit record."""

import httpx

from kit.db import Database
from services.identity.tests.support import Account, audit_records, new_email

URL = "/v1/admin/users"


async def test_staff_find_a_user_by_email_and_it_is_audited(
    client: httpx.AsyncClient, staff: Account, account: Account, database: Database
) -> None:
    found = await client.get(URL, params={"email": account.email.upper()}, headers=staff.headers)
    assert found.status_code == 200, found.text
    assert found.json()["id"] == str(account.id)
    assert found.json()["email"] == account.email
    assert found.json()["roles"] == ["fan"]
    records = await audit_records(database, account.id)
    assert [(r.action, r.actor_id, r.detail) for r in records] == [
        ("user.looked_up", staff.id, {"by": "email"})
    ]


async def test_an_unknown_or_partial_email_is_404(
    client: httpx.AsyncClient, admin: Account, account: Account
) -> None:
    unknown = await client.get(URL, params={"email": new_email()}, headers=admin.headers)
    partial = account.email.split("@")[0] + "@example"
    prefix = await client.get(URL, params={"email": partial}, headers=admin.headers)
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    assert prefix.status_code in (404, 422)


async def test_a_fan_may_not_look_users_up(client: httpx.AsyncClient, account: Account) -> None:
    refused = await client.get(URL, params={"email": account.email}, headers=account.headers)
    anonymous = await client.get(URL, params={"email": account.email})
    assert refused.status_code == 403
    assert anonymous.status_code == 401


async def test_a_deleted_account_is_not_found(
    client: httpx.AsyncClient, admin: Account, account: Account
) -> None:
    assert (await client.delete("/v1/me", headers=account.headers)).status_code == 204
    gone = await client.get(URL, params={"email": account.email}, headers=admin.headers)
    assert gone.status_code == 404
