"""The funnel and the reward, from the sales system's reports (handled as the consumer
handles them) and from staff: each step is recorded and published once, whatever the
order and however often a partner sends it; the delivery makes the reward pending, the
jobs run approves it after the refund window, a refund inside the window voids it, a
refund after approval only flags it; the yearly cap flags the thirteenth; staff decide
with a reason."""

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from contracts.partners import (
    SalesOrderCancelled,
    SalesOrderPlaced,
    SalesOrderRefunded,
    SalesReport,
    SalesTestDriveBooked,
    SalesTestDriveDone,
    SalesVehicleDelivered,
)
from kit.db import Database
from kit.testing.services import rows
from services.referrals.service import jobs
from services.referrals.tests.support import (
    Member,
    Phones,
    code_of,
    handle,
    published,
    referrals_of,
    register,
)

FUNNEL = "referrals.funnel."
PENDING = "referrals.reward.pending.v1"
APPROVED = "referrals.reward.approved.v1"
VOIDED = "referrals.reward.voided.v1"
FLAGGED = "referrals.reward.flagged.v1"


class SalesSystem:
    """The partner's reports about one customer, each with its own report id."""

    def __init__(self, *, customer_user_id: uuid.UUID | None = None, **names: Any) -> None:
        self.ref = f"crm-{uuid.uuid4().hex[:10]}"
        self.names = {"customer_user_id": customer_user_id, **names}

    def report(self, kind: type[SalesReport], at: datetime, **fields: Any) -> SalesReport:
        return kind(
            partner_id="sales-crm",
            report_id=f"{self.ref}-{kind.__name__}",
            customer_ref=self.ref,
            occurred_at=at,
            **self.names,
            **fields,
        )


def car(kind: type[SalesReport]) -> dict[str, str]:
    if kind is SalesVehicleDelivered:
        return {"order_ref": "SO-1", "vin": "LNBSCCAK0PR000001"}
    if kind in (SalesOrderPlaced, SalesOrderCancelled, SalesOrderRefunded):
        return {"order_ref": "SO-1"}
    return {}


async def referred(
    client: httpx.AsyncClient, database: Database, make_member: Callable[..., Member]
) -> tuple[Member, Member, Any]:
    referrer, referee = make_member(), make_member()
    await register(database, referee.id, code=await code_of(client, referrer))
    (referral,) = await referrals_of(database, referrer.id)
    return referrer, referee, referral


async def send(
    database: Database, sales: SalesSystem, kind: type[SalesReport], at: datetime
) -> None:
    await handle(database, sales.report(kind, at, **car(kind)))


async def state(database: Database, referral_id: uuid.UUID) -> Any:
    (row,) = await rows(database, "SELECT * FROM referrals WHERE id = :id", id=referral_id)
    return row


async def test_the_way_to_a_car_is_published_once_and_approved_after_the_window(
    client: httpx.AsyncClient, database: Database, make_member: Callable[..., Member]
) -> None:
    referrer, referee, referral = await referred(client, database, make_member)
    sales = SalesSystem(customer_user_id=referee.id)
    delivered = datetime.now(UTC) - timedelta(days=31)
    steps: list[tuple[type[SalesReport], datetime]] = [
        (SalesTestDriveBooked, delivered - timedelta(days=20)),
        (SalesTestDriveDone, delivered - timedelta(days=18)),
        (SalesOrderPlaced, delivered - timedelta(days=15)),
        (SalesVehicleDelivered, delivered),
    ]
    for kind, at in [*steps, *steps]:  # the partner sends everything twice
        await send(database, sales, kind, at)
    row = await state(database, referral.id)
    assert (row.stage, row.reward_state) == ("delivered", "pending")
    assert row.approves_at == delivered + timedelta(days=30)
    assert await published(database, referral.id) == [
        f"{FUNNEL}lead_created.v1",
        f"{FUNNEL}test_drive_booked.v1",
        f"{FUNNEL}test_drive_done.v1",
        f"{FUNNEL}order_placed.v1",
        f"{FUNNEL}vehicle_delivered.v1",
        PENDING,
    ]
    assert await jobs.approve_rewards(database, batch_size=100) >= 1
    assert await jobs.approve_rewards(database, batch_size=100) == 0, "a second run has nothing"
    assert (await state(database, referral.id)).reward_state == "approved"
    assert (await published(database, referral.id))[-1] == APPROVED
    summary = await client.get("/v1/me/referrals/summary", headers=referrer.headers)
    assert {k: summary.json()[k] for k in ("leads", "test_drives", "orders", "deliveries")} == {
        "leads": 1,
        "test_drives": 1,
        "orders": 1,
        "deliveries": 1,
    }
    assert (summary.json()["pending"], summary.json()["approved"]) == (0, 1)


async def test_steps_out_of_order_are_each_published_once(
    client: httpx.AsyncClient, database: Database, make_member: Callable[..., Member]
) -> None:
    _, referee, referral = await referred(client, database, make_member)
    sales = SalesSystem(customer_user_id=referee.id)
    now = datetime.now(UTC)
    await send(database, sales, SalesVehicleDelivered, now)
    await send(database, sales, SalesOrderPlaced, now - timedelta(days=9))
    await send(database, sales, SalesTestDriveDone, now - timedelta(days=12))
    row = await state(database, referral.id)
    assert (row.stage, row.reward_state) == ("delivered", "pending")
    types = await published(database, referral.id)
    assert sorted(types) == sorted(
        [
            f"{FUNNEL}lead_created.v1",
            f"{FUNNEL}vehicle_delivered.v1",
            PENDING,
            f"{FUNNEL}order_placed.v1",
            f"{FUNNEL}test_drive_done.v1",
        ]
    )


async def test_a_pending_reward_is_not_approved_before_the_window_ends(
    client: httpx.AsyncClient, database: Database, make_member: Callable[..., Member]
) -> None:
    _, referee, referral = await referred(client, database, make_member)
    await send(
        database, SalesSystem(customer_user_id=referee.id), SalesVehicleDelivered, datetime.now(UTC)
    )
    await jobs.approve_rewards(database, batch_size=100)
    assert (await state(database, referral.id)).reward_state == "pending"


async def test_two_job_runners_at_once_approve_each_reward_once(
    client: httpx.AsyncClient, database: Database, make_member: Callable[..., Member]
) -> None:
    delivered = datetime.now(UTC) - timedelta(days=40)
    referrals = []
    for _ in range(6):
        _, referee, referral = await referred(client, database, make_member)
        await send(
            database, SalesSystem(customer_user_id=referee.id), SalesVehicleDelivered, delivered
        )
        referrals.append(referral.id)
    await asyncio.gather(
        jobs.approve_rewards(database, batch_size=2), jobs.approve_rewards(database, batch_size=2)
    )
    for referral_id in referrals:
        types = await published(database, referral_id)
        assert types.count(APPROVED) == 1, types
        assert (await state(database, referral_id)).reward_state == "approved"


async def test_a_refund_inside_the_window_voids_and_after_approval_flags(
    client: httpx.AsyncClient, database: Database, make_member: Callable[..., Member]
) -> None:
    _, inside_referee, inside = await referred(client, database, make_member)
    _, late_referee, late = await referred(client, database, make_member)
    now = datetime.now(UTC)
    inside_sales = SalesSystem(customer_user_id=inside_referee.id)
    await send(database, inside_sales, SalesVehicleDelivered, now - timedelta(days=10))
    await send(database, inside_sales, SalesOrderRefunded, now)
    row = await state(database, inside.id)
    assert (row.stage, row.reward_state, row.decision_reason) == ("refunded", "voided", "refunded")
    assert (await published(database, inside.id))[-2:] == [f"{FUNNEL}order_refunded.v1", VOIDED]

    late_sales = SalesSystem(customer_user_id=late_referee.id)
    await send(database, late_sales, SalesVehicleDelivered, now - timedelta(days=45))
    await jobs.approve_rewards(database, batch_size=100)
    await send(database, late_sales, SalesOrderRefunded, now)
    row = await state(database, late.id)
    assert (row.reward_state, row.review_open) == ("approved", True)
    assert row.review_reasons == ["refunded-after-approval"]
    types = await published(database, late.id)
    assert types[-1] == FLAGGED
    assert VOIDED not in types, "a refund after approval is not reversed silently"


async def test_the_thirteenth_reward_of_a_year_waits_for_staff(
    client: httpx.AsyncClient,
    database: Database,
    make_member: Callable[..., Member],
    staff: Member,
) -> None:
    referrer = make_member()
    code = await code_of(client, referrer)
    delivered = datetime.now(UTC) - timedelta(days=35)  # all 13 in one calendar year
    referees = [uuid.uuid4() for _ in range(13)]
    for referee in referees:
        await register(database, referee, code=code)
        await send(
            database, SalesSystem(customer_user_id=referee), SalesVehicleDelivered, delivered
        )
    stored = await referrals_of(database, referrer.id)
    flagged = [row for row in stored if row.review_open]
    assert len(flagged) == 1
    assert flagged[0].review_reasons == ["yearly-cap"]
    await jobs.approve_rewards(database, batch_size=100)
    states = {row.id: (await state(database, row.id)).reward_state for row in stored}
    assert sorted(states.values()) == ["approved"] * 12 + ["pending"]
    decided = await client.post(
        f"/v1/referrals/{flagged[0].id}/approve",
        json={"reason": "a dealer's employee: allowed"},
        headers=staff.headers,
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["reward_state"] == "approved"
    assert decided.json()["decided_by"] == str(staff.id)


async def test_staff_void_with_a_reason_and_a_voided_referral_earns_nothing_more(
    client: httpx.AsyncClient,
    database: Database,
    make_member: Callable[..., Member],
    staff: Member,
) -> None:
    _, referee, referral = await referred(client, database, make_member)
    sales = SalesSystem(customer_user_id=referee.id)
    await send(database, sales, SalesTestDriveDone, datetime.now(UTC))
    voided = await client.post(
        f"/v1/referrals/{referral.id}/void",
        json={"reason": "the referee is the referrer's second account"},
        headers=staff.headers,
    )
    assert voided.status_code == 200, voided.text
    assert voided.json()["reward_state"] == "voided"
    before = await published(database, referral.id)
    assert before[-1] == VOIDED
    await send(database, sales, SalesVehicleDelivered, datetime.now(UTC))
    assert await published(database, referral.id) == before
    for action in ("approve", "void"):
        again = await client.post(
            f"/v1/referrals/{referral.id}/{action}", json={"reason": "x"}, headers=staff.headers
        )
        assert again.status_code == 409, action
    audit = await rows(
        database,
        "SELECT action, detail FROM audit_records WHERE subject_id = :s",
        s=str(referral.id),
    )
    assert [(row.action, row.detail["reason"]) for row in audit] == [
        ("referral.voided", "the referee is the referrer's second account")
    ]


async def test_share_form_leads_are_found_by_lead_id_and_phone(
    client: httpx.AsyncClient,
    database: Database,
    make_member: Callable[..., Member],
    phones: Phones,
    staff: Member,
) -> None:
    referrer = make_member()
    code = await code_of(client, referrer)
    by_id, by_phone = phones.next(), phones.next()
    leads = {}
    for number in (by_id, by_phone):
        response = await client.post(
            "/v1/referrals/leads",
            json={"code": code, "name": "Lead", "phone": number, "consent": True},
        )
        leads[number] = uuid.UUID(response.json()["id"])
    account = uuid.uuid4()
    await send(
        database,
        SalesSystem(lead_id=leads[by_id], customer_user_id=account),
        SalesTestDriveDone,
        datetime.now(UTC),
    )
    await send(database, SalesSystem(customer_phone=by_phone), SalesOrderPlaced, datetime.now(UTC))
    first = await state(database, leads[by_id])
    assert (first.stage, first.referee_user_id) == ("test_drive_done", account)
    assert (await state(database, leads[by_phone])).stage == "order_placed"
    await send(
        database, SalesSystem(customer_phone="+8613900000000"), SalesOrderPlaced, datetime.now(UTC)
    )
    erased = await client.delete(
        f"/v1/referrals/leads/{leads[by_phone]}/personal-data", headers=staff.headers
    )
    assert erased.status_code == 204
    row = await state(database, leads[by_phone])
    assert (row.name, row.phone, row.phone_hash, row.stage) == (None, None, None, "order_placed")
    assert row.erased_at is not None


async def test_staff_record_steps_and_a_fan_cannot(
    client: httpx.AsyncClient,
    database: Database,
    make_member: Callable[..., Member],
    staff: Member,
) -> None:
    referrer, _, referral = await referred(client, database, make_member)
    path = f"/v1/referrals/{referral.id}"
    fan = make_member()
    for method, suffix, body in (
        ("GET", "", None),
        ("POST", "/stages", {"stage": "test_drive_done"}),
        ("POST", "/approve", {"reason": "x"}),
        ("POST", "/void", {"reason": "x"}),
    ):
        refused = await client.request(method, path + suffix, json=body, headers=referrer.headers)
        assert refused.status_code == 403, (method, suffix)
    assert (await client.get("/v1/referrals", headers=fan.headers)).status_code == 403
    step = await client.post(
        f"{path}/stages",
        json={"stage": "test_drive_booked", "reason": "booked by phone at the store"},
        headers=staff.headers,
    )
    assert step.status_code == 200, step.text
    assert step.json()["stage"] == "test_drive_booked"
    again = await client.post(
        f"{path}/stages", json={"stage": "test_drive_booked"}, headers=staff.headers
    )
    assert again.status_code == 409
    lead = await client.post(f"{path}/stages", json={"stage": "lead"}, headers=staff.headers)
    assert lead.status_code == 422
    missing = await client.get(f"/v1/referrals/{uuid.uuid4()}", headers=staff.headers)
    assert missing.status_code == 404
