"""What identity does with the sales partner's delivery reports (``partners.inbound``),
handlers called as the consumer calls them, on PostgreSQL: the buyer's account owns the
delivered VIN, verified by the partner, and is made an owner once (announced, no actor);
a resent report, a VIN verified already, an unknown or deleted account, a VIN verified
for someone else change nothing."""

import uuid
from datetime import UTC, datetime

import httpx
from sqlalchemy import text

from contracts.partners import SalesVehicleDelivered
from kit.bus.envelope import Envelope
from kit.db import Database
from kit.testing.services import outbox_events
from services.identity.consumers import SUBSCRIPTIONS, on_vehicle_delivered
from services.identity.tests.support import Account, MakeAccount

VERIFIED = "identity.user.vehicle_verified.v1"
ROLE_CHANGED = "identity.user.role_changed.v1"


def _vin() -> str:
    return "LNB" + uuid.uuid4().hex[:14].upper()


def delivery(user_id: uuid.UUID | None, vin: str, report_id: str = "r-1") -> SalesVehicleDelivered:
    return SalesVehicleDelivered(
        partner_id="dealer-7",
        report_id=report_id,
        customer_ref=f"c-{uuid.uuid4().hex[:8]}",
        customer_user_id=user_id,
        occurred_at=datetime.now(UTC),
        order_ref="o-1",
        vin=vin,
    )


async def deliver(database: Database, payload: SalesVehicleDelivered) -> None:
    """One delivery of ``payload``, each time under a fresh CloudEvent id (as a resent
    report arrives)."""
    envelope = Envelope(
        type=payload.event_type,
        source="webhooks",
        subject=payload.subject(),
        data=payload.model_dump(mode="json"),
    )
    async with database.transaction() as session:
        await on_vehicle_delivered(session, payload, envelope)


async def vehicles_of(database: Database, user_id: uuid.UUID) -> list[tuple[object, ...]]:
    async with database.engine.connect() as connection:
        found = await connection.execute(
            text(
                "SELECT vin, model, status, verified_by FROM vehicles"
                " WHERE user_id = :u ORDER BY id"
            ),
            {"u": user_id},
        )
        return [tuple(row) for row in found]


async def roles_of(database: Database, user_id: uuid.UUID) -> list[str]:
    async with database.engine.connect() as connection:
        found = await connection.execute(
            text("SELECT role FROM user_roles WHERE user_id = :u ORDER BY role"), {"u": user_id}
        )
        return [row[0] for row in found]


async def announced(database: Database, user_id: uuid.UUID) -> list[tuple[str, object]]:
    """The vehicle and role events staged about the user: (type, verified_by or granted)."""
    return [
        (event.type, event.data.get("verified_by", event.data.get("granted")))
        for event in await outbox_events(database, subject=user_id)
        if event.type in (VERIFIED, ROLE_CHANGED)
    ]


def test_identity_reads_partners_inbound() -> None:
    [partners] = [s for s in SUBSCRIPTIONS if s.name == "partners-inbound"]
    assert partners.handlers == {SalesVehicleDelivered: on_vehicle_delivered}


async def test_a_delivery_makes_the_buyer_an_owner_once(
    database: Database, account: Account
) -> None:
    vin = _vin()
    for report in ("r-1", "r-1", "r-2"):  # resent, then reported again by another message
        await deliver(database, delivery(account.id, vin.lower(), report))

    assert await vehicles_of(database, account.id) == [
        (vin, "Delivered vehicle", "verified", "partner:dealer-7")
    ]
    assert await roles_of(database, account.id) == ["fan", "owner"]
    assert await announced(database, account.id) == [
        (VERIFIED, "partner:dealer-7"),
        (ROLE_CHANGED, ["owner"]),
    ]
    for event in await outbox_events(database, subject=account.id):
        if event.type in (VERIFIED, ROLE_CHANGED):
            assert event.actor is None, "the system acted"
    [changed] = await outbox_events(database, subject=account.id, event_type=ROLE_CHANGED)
    assert changed.data["changed_by"] is None
    assert changed.data["roles"] == ["fan", "owner"]


async def test_the_buyers_own_submission_is_the_one_verified(
    client: httpx.AsyncClient, database: Database, account: Account
) -> None:
    vin = _vin()
    submitted = await client.post(
        "/v1/me/vehicles", headers=account.headers, json={"vin": vin, "model": "ET7"}
    )
    assert submitted.status_code == 201
    await deliver(database, delivery(account.id, vin))
    assert await vehicles_of(database, account.id) == [(vin, "ET7", "verified", "partner:dealer-7")]
    assert await roles_of(database, account.id) == ["fan", "owner"]


async def test_a_vin_staff_verified_already_changes_nothing(
    client: httpx.AsyncClient, database: Database, account: Account, staff: Account
) -> None:
    vin = _vin()
    submitted = await client.post(
        "/v1/me/vehicles", headers=account.headers, json={"vin": vin, "model": "ET7"}
    )
    verified = await client.post(
        f"/v1/admin/vehicles/{submitted.json()['id']}/verify", headers=staff.headers
    )
    assert verified.status_code == 200
    before = await announced(database, account.id)

    await deliver(database, delivery(account.id, vin))
    assert await vehicles_of(database, account.id) == [
        (vin, "ET7", "verified", f"staff:{staff.id}")
    ]
    assert await announced(database, account.id) == before


async def test_a_second_delivered_vehicle_is_verified_but_the_role_is_granted_once(
    database: Database, account: Account
) -> None:
    first, second = _vin(), _vin()
    await deliver(database, delivery(account.id, first))
    await deliver(database, delivery(account.id, second))
    assert [row[2] for row in await vehicles_of(database, account.id)] == ["verified"] * 2
    assert [kind for kind, _ in await announced(database, account.id)] == [
        VERIFIED,
        ROLE_CHANGED,
        VERIFIED,
    ]


async def test_a_vin_verified_for_someone_else_is_not_taken(
    database: Database, make_account: MakeAccount
) -> None:
    owner, other = await make_account(), await make_account()
    vin = _vin()
    await deliver(database, delivery(owner.id, vin))
    await deliver(database, delivery(other.id, vin))
    assert await vehicles_of(database, other.id) == []
    assert await roles_of(database, other.id) == ["fan"]
    assert await announced(database, other.id) == []
    assert await vehicles_of(database, owner.id) == [
        (vin, "Delivered vehicle", "verified", "partner:dealer-7")
    ]


async def test_unknown_deleted_or_unnamed_buyers_and_malformed_vins_change_nothing(
    client: httpx.AsyncClient, database: Database, make_account: MakeAccount
) -> None:
    gone, fan = await make_account(), await make_account()
    assert (await client.delete("/v1/me", headers=gone.headers)).status_code == 204
    stranger = uuid.uuid4()
    await deliver(database, delivery(stranger, _vin()))
    await deliver(database, delivery(gone.id, _vin()))
    await deliver(database, delivery(None, _vin()))
    await deliver(database, delivery(fan.id, "NOT-A-VIN"))
    for user_id in (stranger, gone.id, fan.id):
        assert await vehicles_of(database, user_id) == []
        assert await announced(database, user_id) == []
    assert await roles_of(database, fan.id) == ["fan"]
