"""Vehicles: submission, verification by staff (the user becomes an owner), listing."""

import uuid

import httpx
import pytest

from kit.db import Database
from services.identity.tests.support import (
    Account,
    MakeAccount,
    event_data,
    event_types,
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
    assert await event_types(database, account.id) == [
        "identity.user.registered.v1",
        "identity.user.vehicle_verified.v1",
        "identity.user.role_changed.v1",
    ]
    [event] = await event_data(database, account.id, "identity.user.vehicle_verified.v1")
    assert event["verified_by"] == f"staff:{staff.id}"
    assert event["vin_last4"] == vehicle["vin"][-4:]
    [change] = await event_data(database, account.id, "identity.user.role_changed.v1")
    assert change["roles"] == ["fan", "owner"]
    assert change["granted"] == ["owner"]


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
    types = await event_types(database, account.id)
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


async def test_pending_list_pages(
    client: httpx.AsyncClient, staff: Account, account: Account
) -> None:
    submitted = [(await _submit(client, account, _vin())).json()["id"] for _ in range(3)]
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params = {"limit": 2, **({"after": cursor} if cursor else {})}
        page = (await client.get("/v1/admin/vehicles", params=params, headers=staff.headers)).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert set(submitted) <= set(seen)
    assert seen == sorted(seen)
    assert (await client.get("/v1/admin/vehicles", headers=account.headers)).status_code == 403
