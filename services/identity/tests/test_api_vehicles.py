"""Vehicles: submission, verification by staff (the user becomes an owner), listing."""

import base64
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from kit.db import Database
from kit.testing.plugin import MigratedDatabaseFactory
from kit.testing.services import outbox_events, running, service_client
from services.identity.app import create_app
from services.identity.tests.support import (
    Account,
    MakeAccount,
    audit_records,
    identity_settings,
    new_account,
    row_counts,
)

VIN = "LRW3E7FS5PC123456"


def _vin() -> str:
    return "LNB" + uuid.uuid4().hex[:14].upper()


async def _submit(client: httpx.AsyncClient, account: Account, vin: str) -> httpx.Response:
    return await client.post(
        "/v1/me/vehicles", headers=account.headers, json={"vin": vin, "model": "ET7"}
    )


async def test_submit_and_list(client: httpx.AsyncClient, account: Account) -> None:
    submitted = await _submit(client, account, VIN.lower())
    assert submitted.status_code == 201
    vehicle = submitted.json()
    assert vehicle["vin"] == VIN
    assert vehicle["status"] == "pending"
    listed = await client.get("/v1/me/vehicles", headers=account.headers)
    assert listed.json() == {"items": [vehicle]}


@pytest.mark.parametrize(
    "body",
    [
        {"vin": "LRW3E7FS5PC12345", "model": "ET7"},
        {"vin": "LRW3E7FS5PC1234567", "model": "ET7"},
        {"vin": "IRW3E7FS5PC123456", "model": "ET7"},
        {"vin": "LRW3E7FS5PC12345O", "model": "ET7"},
        {"vin": "LRW3E7FS5PC12345Q", "model": "ET7"},
        {"vin": VIN, "model": ""},
        {"vin": VIN},
        {"vin": VIN, "model": "ET7", "status": "verified"},
        {"vin": 12345678901234567, "model": "ET7"},
    ],
)
async def test_bad_vehicle_is_422(
    client: httpx.AsyncClient, account: Account, database: Database, body: dict[str, object]
) -> None:
    before = await row_counts(database)
    response = await client.post("/v1/me/vehicles", headers=account.headers, json=body)
    assert response.status_code == 422
    assert await row_counts(database) == before


async def test_same_vin_twice_is_409(
    client: httpx.AsyncClient, account: Account, database: Database
) -> None:
    vin = _vin()
    await _submit(client, account, vin)
    before = await row_counts(database)
    response = await _submit(client, account, vin)
    assert response.status_code == 409
    assert await row_counts(database) == before


async def test_staff_verification_makes_an_owner(
    client: httpx.AsyncClient, staff: Account, account: Account, database: Database
) -> None:
    vehicle = (await _submit(client, account, _vin())).json()
    verified = await client.post(
        f"/v1/admin/vehicles/{vehicle['id']}/verify", headers=staff.headers
    )
    assert verified.status_code == 200
    assert verified.json()["status"] == "verified"
    assert verified.json()["verified_at"] is not None

    me = await client.get("/v1/me", headers=account.headers)
    assert me.json()["roles"] == ["fan", "owner"]
    registered, event, change = await outbox_events(database, subject=account.id)
    assert (registered.type, event.type, change.type) == (
        "identity.user.registered.v1",
        "identity.user.vehicle_verified.v1",
        "identity.user.role_changed.v1",
    )
    assert event.data["verified_by"] == f"staff:{staff.id}"
    assert event.data["vin_last4"] == vehicle["vin"][-4:]
    assert change.data["roles"] == ["fan", "owner"]
    assert change.data["granted"] == ["owner"]
    assert event.actor == change.actor == staff.id
    [record] = await audit_records(database, vehicle["id"])
    assert (record.action, record.actor_id) == ("vehicle.verified", staff.id)
    assert record.detail == {"user_id": str(account.id)}


async def test_verification_is_idempotent(
    client: httpx.AsyncClient, staff: Account, account: Account, database: Database
) -> None:
    vehicle = (await _submit(client, account, _vin())).json()
    url = f"/v1/admin/vehicles/{vehicle['id']}/verify"
    await client.post(url, headers=staff.headers)
    before = await row_counts(database)
    again = await client.post(url, headers=staff.headers)
    assert again.status_code == 200
    assert await row_counts(database) == before


async def test_a_second_vehicle_keeps_one_owner_role(
    client: httpx.AsyncClient, staff: Account, account: Account, database: Database
) -> None:
    for _ in range(2):
        vehicle = (await _submit(client, account, _vin())).json()
        await client.post(f"/v1/admin/vehicles/{vehicle['id']}/verify", headers=staff.headers)
    types = [event.type for event in await outbox_events(database, subject=account.id)]
    assert types.count("identity.user.vehicle_verified.v1") == 2
    assert types.count("identity.user.role_changed.v1") == 1


async def test_vin_verified_for_one_account_only(
    client: httpx.AsyncClient, staff: Account, make_account: MakeAccount, database: Database
) -> None:
    vin = _vin()
    first, second = await make_account(), await make_account()
    vehicles = [(await _submit(client, owner, vin)).json() for owner in (first, second)]
    await client.post(f"/v1/admin/vehicles/{vehicles[0]['id']}/verify", headers=staff.headers)
    before = await row_counts(database)
    response = await client.post(
        f"/v1/admin/vehicles/{vehicles[1]['id']}/verify", headers=staff.headers
    )
    assert response.status_code == 409
    assert await row_counts(database) == before


async def test_fans_cannot_verify(
    client: httpx.AsyncClient, account: Account, database: Database
) -> None:
    vehicle = (await _submit(client, account, _vin())).json()
    before = await row_counts(database)
    response = await client.post(
        f"/v1/admin/vehicles/{vehicle['id']}/verify", headers=account.headers
    )
    assert response.status_code == 403
    assert await row_counts(database) == before


async def test_unknown_vehicle_is_404(client: httpx.AsyncClient, staff: Account) -> None:
    response = await client.post(f"/v1/admin/vehicles/{uuid.uuid4()}/verify", headers=staff.headers)
    assert response.status_code == 404


@dataclass
class Fresh:
    """Identity on a database of its own: the pending list holds only this test's vehicles."""

    client: httpx.AsyncClient
    staff: Account
    owner: Account


@pytest.fixture
async def fresh(migrated_database_factory: MigratedDatabaseFactory) -> AsyncIterator[Fresh]:
    url = await migrated_database_factory("identity")
    async with running(create_app(identity_settings(url))) as app, service_client(app) as client:
        database: Database = app.state.database
        staff = await new_account(client, database, ("staff",))
        yield Fresh(client, staff, await new_account(client, database))


async def _pages(fresh: Fresh, limit: int) -> list[list[str]]:
    """Every page of the pending list, following ``next_cursor`` until it is null."""
    pages: list[list[str]] = []
    params: dict[str, str | int] = {"limit": limit}
    while True:
        response = await fresh.client.get(
            "/v1/admin/vehicles", params=params, headers=fresh.staff.headers
        )
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append([item["id"] for item in page["items"]])
        if page["next_cursor"] is None:
            return pages
        params = {"limit": limit, "cursor": page["next_cursor"]}


async def test_pending_list_pages_exactly(fresh: Fresh) -> None:
    submitted = [(await _submit(fresh.client, fresh.owner, _vin())).json()["id"] for _ in range(5)]
    assert await _pages(fresh, 2) == [submitted[0:2], submitted[2:4], submitted[4:]]
    assert await _pages(fresh, 5) == [submitted], "a full last page links to no empty page"
    assert await _pages(fresh, 100) == [submitted]
    default = (await fresh.client.get("/v1/admin/vehicles", headers=fresh.staff.headers)).json()
    assert [item["id"] for item in default["items"]] == submitted
    assert default["next_cursor"] is None

    verify = f"/v1/admin/vehicles/{submitted[0]}/verify"
    assert (await fresh.client.post(verify, headers=fresh.staff.headers)).status_code == 200
    assert await _pages(fresh, 2) == [submitted[1:3], submitted[3:]], "verified ones leave"


def _cursor(values: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"cursor": "not a cursor!"}, "bad-cursor"),
        ({"cursor": _cursor(["not-a-uuid"])}, "bad-cursor"),
        ({"cursor": _cursor([str(uuid.uuid4()), 1])}, "bad-cursor"),
        ({"cursor": _cursor({"id": str(uuid.uuid4())})}, "bad-cursor"),
        ({"cursor": "x" * 501}, "validation-error"),
        ({"limit": 0}, "validation-error"),
        ({"limit": 101}, "validation-error"),
    ],
)
async def test_bad_page_requests_are_422(
    client: httpx.AsyncClient, staff: Account, params: dict[str, str | int], problem: str
) -> None:
    response = await client.get("/v1/admin/vehicles", params=params, headers=staff.headers)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith(f"/{problem}")


async def test_fans_cannot_list_pending_vehicles(
    client: httpx.AsyncClient, account: Account
) -> None:
    assert (await client.get("/v1/admin/vehicles", headers=account.headers)).status_code == 403
