"""Rewards' answer to a paid seat, handled as events' consumer handles it: a refused
charge releases a still-confirmed seat (``payment_failed``, nothing to refund) and promotes
the head of the waitlist; a charged seat, a seat already cancelled and a signup events does
not know stay as they are."""

import uuid
from collections.abc import Callable

import httpx

from contracts.rewards import SignupChargeSettled
from kit.bus.envelope import Envelope
from kit.db import Database
from kit.testing.services import outbox_events
from services.events.consumers import on_charge_settled
from services.events.tests.support import User, published_event

FEE = 30


async def settle(database: Database, signup: dict[str, object], *, charged: bool) -> None:
    payload = SignupChargeSettled(
        event_id=uuid.UUID(str(signup["event_id"])),
        signup_id=uuid.UUID(str(signup["id"])),
        user_id=uuid.UUID(str(signup["user_id"])),
        points=FEE,
        charged=charged,
        reason=None if charged else "not-enough-points",
    )
    envelope = Envelope(
        type=payload.event_type,
        source="rewards",
        subject=payload.subject(),
        data=payload.model_dump(mode="json"),
    )
    async with database.transaction() as session:
        await on_charge_settled(session, payload, envelope)


async def test_a_refused_charge_gives_the_seat_to_the_next_in_line(
    client: httpx.AsyncClient, database: Database, staff: User, make_user: Callable[..., User]
) -> None:
    event = await published_event(client, staff, capacity=1, points_fee=FEE)
    paying, short, waiting = make_user(), make_user(), make_user()
    seats = {}
    for user in (short, waiting):
        signed = await client.post(f"/v1/events/{event['id']}/signups", headers=user.headers)
        assert signed.status_code == 201, signed.text
        seats[user.id] = signed.json()
    assert seats[waiting.id]["status"] == "waitlisted"

    await settle(database, seats[short.id], charged=False)
    await settle(database, seats[short.id], charged=False)  # a redelivery: already released

    async def status(user: User) -> str:
        found = await client.get(f"/v1/signups/{seats[user.id]['id']}", headers=user.headers)
        return str(found.json()["status"])

    assert [await status(short), await status(waiting)] == ["cancelled", "confirmed"]
    staged = await outbox_events(database, subject=event["id"])
    cancelled = [e.data for e in staged if e.type == "events.signup.cancelled.v1"]
    assert [(e["reason"], e["refund_due"]) for e in cancelled] == [("payment_failed", 0)]
    promoted = [e.data for e in staged if e.type == "events.signup.promoted.v1"]
    assert [(e["user_id"], e["fee_points"]) for e in promoted] == [(str(waiting.id), FEE)]

    await settle(database, seats[waiting.id], charged=True)
    assert await status(waiting) == "confirmed"
    stranger = {**seats[waiting.id], "id": str(uuid.uuid4()), "user_id": str(paying.id)}
    await settle(database, stranger, charged=False)
    assert await status(waiting) == "confirmed"
