"""Waitlist offers: a freed seat of a ``waitlist_offers`` event is offered to the head of
the waitlist and held; accepted, it is confirmed (and charged); declined or unanswered, it
passes to the next in line exactly once, even with two replicas running the expiry job at
the same time. Answering an offer that is not open is a 409 that writes nothing."""

import asyncio
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from kit.db import Database
from kit.testing.services import outbox_events, rows, scalar
from services.events import cli
from services.events.config import EventsSettings
from services.events.service import jobs
from services.events.tests.support import QR_SECRET, User, now, published_event
from services.events.tests.test_bad_input import assert_problem
from services.events.tests.test_charge_settled import FEE, settle

HOLD = timedelta(seconds=EventsSettings().offer_hold_seconds)
AFTER_THE_HOLD = HOLD + timedelta(minutes=1)


class Crowd:
    """A published offers event, filled through the signup API: ``confirmed`` took the
    seats in order, ``waiting`` wait in order."""

    def __init__(self, event: dict[str, Any]) -> None:
        self.event = event
        self.id = uuid.UUID(event["id"])
        self.confirmed: list[tuple[User, dict[str, Any]]] = []
        self.waiting: list[tuple[User, dict[str, Any]]] = []


async def crowd(
    client: httpx.AsyncClient,
    staff: User,
    make_user: Callable[..., User],
    *,
    capacity: int,
    waiting: int,
    **overrides: Any,
) -> Crowd:
    event = await published_event(
        client, staff, capacity=capacity, waitlist_offers=True, **overrides
    )
    assert event["waitlist_offers"] is True
    filled = Crowd(event)
    for index in range(capacity + waiting):
        user = make_user()
        response = await client.post(f"/v1/events/{event['id']}/signups", headers=user.headers)
        assert response.status_code == 201, response.text
        signup = response.json()
        if index < capacity:
            assert signup["status"] == "confirmed"
            filled.confirmed.append((user, signup))
        else:
            assert signup["status"] == "waitlisted"
            filled.waiting.append((user, signup))
    return filled


async def give_back(client: httpx.AsyncClient, user: User, signup: dict[str, Any]) -> None:
    response = await client.delete(f"/v1/signups/{signup['id']}", headers=user.headers)
    assert response.status_code == 200, response.text


async def open_offer(client: httpx.AsyncClient, user: User) -> dict[str, Any]:
    """The user's one open offer, as their app finds it."""
    mine = await client.get("/v1/me/offers", headers=user.headers)
    assert mine.status_code == 200, mine.text
    assert len(mine.json()["items"]) == 1, mine.json()
    offer: dict[str, Any] = mine.json()["items"][0]
    return offer


async def offers_of(database: Database, event_id: uuid.UUID) -> list[Any]:
    return await rows(
        database,
        "SELECT id, signup_id, user_id, state, offered_at, expires_at FROM seat_offers "
        "WHERE event_id = :e ORDER BY offered_at, id",
        e=event_id,
    )


async def status_of(database: Database, signup: dict[str, Any]) -> str:
    found: str = await scalar(
        database, "SELECT status FROM signups WHERE id = :s", s=uuid.UUID(signup["id"])
    )
    return found


async def writes(database: Database, event_id: uuid.UUID) -> tuple[Any, ...]:
    """Everything an answer could change about the event: counters, signups, offers, outbox."""
    counter = await scalar(database, "SELECT confirmed_count FROM events WHERE id = :e", e=event_id)
    signups = await rows(
        database,
        "SELECT id, status, updated_at FROM signups WHERE event_id = :e ORDER BY id",
        e=event_id,
    )
    offers = await rows(
        database,
        "SELECT id, state, answered_at FROM seat_offers WHERE event_id = :e ORDER BY id",
        e=event_id,
    )
    staged = len(await outbox_events(database, subject=event_id))
    return counter, tuple(signups), tuple(offers), staged


async def assert_capacity_holds(database: Database, filled: Crowd) -> None:
    """The counter is the confirmed seats plus the seats held by open offers, never above
    capacity."""
    counter = await scalar(
        database, "SELECT confirmed_count FROM events WHERE id = :e", e=filled.id
    )
    confirmed = await scalar(
        database,
        "SELECT count(*) FROM signups WHERE event_id = :e AND status = 'confirmed'",
        e=filled.id,
    )
    held = await scalar(
        database,
        "SELECT count(*) FROM seat_offers WHERE event_id = :e AND state = 'offered'",
        e=filled.id,
    )
    assert counter == confirmed + held <= filled.event["capacity"]


async def test_giving_back_a_confirmed_seat_offers_it_to_the_head_at_once(
    client: httpx.AsyncClient, database: Database, staff: User, make_user: Callable[..., User]
) -> None:
    filled = await crowd(client, staff, make_user, capacity=2, waiting=2)
    (leaver, seat), (head, place), (second, _) = filled.confirmed[0], *filled.waiting
    before = now()
    await give_back(client, leaver, seat)

    offer = await open_offer(client, head)
    assert offer["signup_id"] == place["id"]
    assert offer["state"] == "offered"
    assert offer["event_title"] == filled.event["title"]
    expires = datetime.fromisoformat(offer["expires_at"])
    assert before + HOLD <= expires <= now() + HOLD
    assert (await client.get("/v1/me/offers", headers=second.headers)).json()["items"] == []
    assert await status_of(database, place) == "waitlisted", "waitlisted while the offer is open"
    signup = (await client.get(f"/v1/signups/{place['id']}", headers=head.headers)).json()
    assert signup["waitlist_position"] == place["waitlist_position"]
    event = (await client.get(f"/v1/events/{filled.id}")).json()
    assert event["seats_left"] == 0, "the held seat is nobody else's"
    late = await client.post(f"/v1/events/{filled.id}/signups", headers=make_user().headers)
    assert late.json()["status"] == "waitlisted"
    made = await outbox_events(database, subject=filled.id, event_type="events.offer.made.v1")
    assert [event.data["offer_id"] for event in made] == [offer["id"]]
    assert made[0].data["user_id"] == str(head.id)
    assert made[0].actor == leaver.id
    read = await client.get(f"/v1/offers/{offer['id']}", headers=head.headers)
    assert read.status_code == 200
    assert read.json()["id"] == offer["id"]
    assert_problem(
        await client.get(f"/v1/offers/{offer['id']}", headers=second.headers), 404, "not-found"
    )
    await assert_capacity_holds(database, filled)


async def test_accepting_confirms_the_seat_and_charges_the_fee(
    client: httpx.AsyncClient, database: Database, staff: User, make_user: Callable[..., User]
) -> None:
    filled = await crowd(client, staff, make_user, capacity=1, waiting=1, points_fee=50)
    (leaver, seat), (head, place) = filled.confirmed[0], filled.waiting[0]
    await give_back(client, leaver, seat)
    offer = await open_offer(client, head)

    accepted = await client.post(f"/v1/offers/{offer['id']}/accept", headers=head.headers)

    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["state"] == "accepted"
    assert accepted.json()["answered_at"] is not None
    assert await status_of(database, place) == "confirmed"
    promoted = await outbox_events(
        database, subject=filled.id, event_type="events.signup.promoted.v1"
    )
    assert [event.data for event in promoted] == [
        {
            "signup_id": place["id"],
            "event_id": str(filled.id),
            "user_id": str(head.id),
            "fee_points": 50,
            "from_position": place["waitlist_position"],
        }
    ]
    assert (await client.get("/v1/me/offers", headers=head.headers)).json()["items"] == []
    await assert_capacity_holds(database, filled)

    before = await writes(database, filled.id)
    again = await client.post(f"/v1/offers/{offer['id']}/accept", headers=head.headers)
    assert assert_problem(again, 409, "offer-not-open")["state"] == "accepted"
    assert await writes(database, filled.id) == before


async def test_declining_offers_the_seat_to_the_next_in_line_at_once(
    client: httpx.AsyncClient, database: Database, staff: User, make_user: Callable[..., User]
) -> None:
    filled = await crowd(client, staff, make_user, capacity=1, waiting=2)
    (leaver, seat), (head, place), (second, later) = filled.confirmed[0], *filled.waiting
    await give_back(client, leaver, seat)
    offer = await open_offer(client, head)

    declined = await client.post(f"/v1/offers/{offer['id']}/decline", headers=head.headers)

    assert declined.status_code == 200, declined.text
    assert declined.json()["state"] == "declined"
    assert await status_of(database, place) == "cancelled"
    passed_on = await open_offer(client, second)
    assert passed_on["signup_id"] == later["id"]
    cancelled = await outbox_events(
        database, subject=filled.id, event_type="events.signup.cancelled.v1"
    )
    assert [(event.data["signup_id"], event.data["reason"]) for event in cancelled][-1] == (
        place["id"],
        "offer_declined",
    )
    assert cancelled[-1].data["refund_due"] == 0
    await assert_capacity_holds(database, filled)
    assert_problem(
        await client.post(f"/v1/offers/{offer['id']}/accept", headers=head.headers),
        409,
        "offer-not-open",
    )


async def test_bad_answers_are_refused_and_write_nothing(
    client: httpx.AsyncClient, database: Database, staff: User, make_user: Callable[..., User]
) -> None:
    filled = await crowd(client, staff, make_user, capacity=1, waiting=2)
    (leaver, seat), (head, place), (second, _) = filled.confirmed[0], *filled.waiting
    await give_back(client, leaver, seat)
    offer = await open_offer(client, head)
    before = await writes(database, filled.id)

    for action in ("accept", "decline"):
        foreign = await client.post(f"/v1/offers/{offer['id']}/{action}", headers=second.headers)
        assert_problem(foreign, 404, "not-found")
        unknown = await client.post(f"/v1/offers/{uuid.uuid4()}/{action}", headers=head.headers)
        assert_problem(unknown, 404, "not-found")
        assert (await client.post(f"/v1/offers/{offer['id']}/{action}")).status_code == 401
    assert await writes(database, filled.id) == before

    # The hold ended a minute ago and the job has not run: lapsed by the clock.
    await _backdate(database, uuid.UUID(offer["id"]), AFTER_THE_HOLD)
    before = await writes(database, filled.id)
    for action in ("accept", "decline"):
        late = await client.post(f"/v1/offers/{offer['id']}/{action}", headers=head.headers)
        assert assert_problem(late, 409, "offer-not-open")["state"] == "lapsed"
    assert await writes(database, filled.id) == before
    read = await client.get(f"/v1/offers/{offer['id']}", headers=head.headers)
    assert read.json()["state"] == "lapsed"
    assert (await client.get("/v1/me/offers", headers=head.headers)).json()["items"] == []

    # After the job: lapsed for good, the seat offered on.
    assert await jobs.lapse_offers(database, batch_size=10) >= 1
    assert await status_of(database, place) == "cancelled"
    before = await writes(database, filled.id)
    late = await client.post(f"/v1/offers/{offer['id']}/accept", headers=head.headers)
    assert assert_problem(late, 409, "offer-not-open")["state"] == "lapsed"
    assert await writes(database, filled.id) == before
    assert (await open_offer(client, second))["state"] == "offered"


async def _backdate(database: Database, offer_id: uuid.UUID, by: timedelta) -> None:
    """Move an offer into the past (as if made ``by`` ago): a clock, not a sleep."""
    async with database.engine.begin() as connection:
        await connection.execute(
            text(
                "UPDATE seat_offers SET offered_at = offered_at - CAST(:by AS interval), "
                "expires_at = expires_at - CAST(:by AS interval) WHERE id = :id"
            ),
            {"by": by, "id": offer_id},
        )


@pytest.mark.parametrize("rounds", [2])
async def test_two_replicas_pass_each_lapsed_offer_on_exactly_once(
    client: httpx.AsyncClient,
    database: Database,
    events_url: str,
    staff: User,
    make_user: Callable[..., User],
    rounds: int,
) -> None:
    """Two job runs at once, each on its own engine, with several lapsed offers on two
    events: each lapsed offer makes exactly one new offer, to the next in line, and one
    ``offer.lapsed`` and one ``signup.cancelled``; capacity holds throughout."""
    crowds = [await crowd(client, staff, make_user, capacity=3, waiting=8) for _ in range(2)]
    for filled in crowds:
        for user, seat in filled.confirmed:
            await give_back(client, user, seat)
    settings = EventsSettings(database_url=events_url, bus_enabled=False, qr_secret=QR_SECRET)
    clock = now()
    for round_ in range(1, rounds + 1):
        clock += AFTER_THE_HOLD
        before = {filled.id: await offers_of(database, filled.id) for filled in crowds}
        runs = await asyncio.gather(*(jobs.run(settings, now=clock) for _ in range(2)))
        assert sum(runs) >= sum(
            sum(offer.state == "offered" for offer in offers) for offers in before.values()
        )
        for filled in crowds:
            await assert_passed_on_once(database, filled, before[filled.id], clock, round_)
            await assert_capacity_holds(database, filled)


async def assert_passed_on_once(
    database: Database, filled: Crowd, before: list[Any], clock: datetime, round_: int
) -> None:
    waiting = [uuid.UUID(place["id"]) for _, place in filled.waiting]
    due = [offer for offer in before if offer.state == "offered"]
    assert [offer.signup_id for offer in due] == waiting[(round_ - 1) * 3 : round_ * 3]
    after = {offer.id: offer for offer in await offers_of(database, filled.id)}
    assert all(after[offer.id].state == "lapsed" for offer in due)
    new = [offer for offer in after.values() if offer.offered_at == clock]
    assert [offer.signup_id for offer in new] == waiting[round_ * 3 : round_ * 3 + 3], (
        "the next in line, once each"
    )
    assert all(offer.state == "offered" for offer in new)
    assert all(offer.expires_at == clock + HOLD for offer in new)

    async def staged(event_type: str) -> list[dict[str, Any]]:
        found = await outbox_events(database, subject=filled.id, event_type=event_type)
        return [event.data for event in found]

    lapsed = [data["offer_id"] for data in await staged("events.offer.lapsed.v1")]
    assert sorted(lapsed) == sorted(
        str(offer.id) for offer in after.values() if offer.state == "lapsed"
    )
    cancels = [
        data["signup_id"]
        for data in await staged("events.signup.cancelled.v1")
        if data["reason"] == "offer_lapsed"
    ]
    assert sorted(cancels) == sorted(str(signup) for signup in waiting[: round_ * 3])
    made = [data["offer_id"] for data in await staged("events.offer.made.v1")]
    assert sorted(made) == sorted(str(offer) for offer in after)
    seats_left = max(0, len(waiting) - round_ * 3)
    counter = await scalar(
        database, "SELECT confirmed_count FROM events WHERE id = :e", e=filled.id
    )
    assert counter == min(3, seats_left), "a seat with nobody left to offer it to is free"


async def test_cancelling_a_waitlisted_signup_withdraws_its_offer_and_offers_on(
    client: httpx.AsyncClient, database: Database, staff: User, make_user: Callable[..., User]
) -> None:
    filled = await crowd(client, staff, make_user, capacity=1, waiting=2)
    (leaver, seat), (head, place), (second, later) = filled.confirmed[0], *filled.waiting
    await give_back(client, leaver, seat)
    offer = await open_offer(client, head)

    await give_back(client, head, place)

    assert (await client.get(f"/v1/offers/{offer['id']}", headers=head.headers)).json()[
        "state"
    ] == "withdrawn"
    assert (await open_offer(client, second))["signup_id"] == later["id"]
    await assert_capacity_holds(database, filled)


async def test_cancelling_the_event_withdraws_its_offers(
    client: httpx.AsyncClient, database: Database, staff: User, make_user: Callable[..., User]
) -> None:
    filled = await crowd(client, staff, make_user, capacity=1, waiting=1)
    (leaver, seat), (head, _) = filled.confirmed[0], filled.waiting[0]
    await give_back(client, leaver, seat)
    offer = await open_offer(client, head)

    cancelled = await client.post(
        f"/v1/events/{filled.id}/cancel", json={"reason": "storm"}, headers=staff.headers
    )

    assert cancelled.status_code == 200, cancelled.text
    assert [row.state for row in await offers_of(database, filled.id)] == ["withdrawn"]
    late = await client.post(f"/v1/offers/{offer['id']}/accept", headers=head.headers)
    assert assert_problem(late, 409, "offer-not-open")["state"] == "withdrawn"


async def test_close_to_the_start_the_hold_is_shorter_then_no_offer_at_all(
    client: httpx.AsyncClient, database: Database, staff: User, make_user: Callable[..., User]
) -> None:
    def schedule(starts_in: timedelta) -> dict[str, str]:
        start = now() + starts_in
        return {
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(hours=1)).isoformat(),
            "closes_at": (start - timedelta(minutes=1)).isoformat(),
        }

    soon = await crowd(
        client, staff, make_user, capacity=1, waiting=1, **schedule(timedelta(hours=1))
    )
    await give_back(client, *soon.confirmed[0])
    offer = await open_offer(client, soon.waiting[0][0])
    held = datetime.fromisoformat(offer["expires_at"]) - datetime.fromisoformat(offer["offered_at"])
    assert timedelta(minutes=29) <= held <= timedelta(minutes=30), "half the time left"

    imminent = await crowd(
        client, staff, make_user, capacity=1, waiting=1, **schedule(timedelta(minutes=8))
    )
    await give_back(client, *imminent.confirmed[0])
    assert await offers_of(database, imminent.id) == []
    event = (await client.get(f"/v1/events/{imminent.id}")).json()
    assert event["seats_left"] == 1, "a hold under the minimum is no offer: the seat is free"
    assert await status_of(database, imminent.waiting[0][1]) == "waitlisted"


async def test_the_jobs_command_lapses_due_offers(
    client: httpx.AsyncClient,
    database: Database,
    events_url: str,
    staff: User,
    make_user: Callable[..., User],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    filled = await crowd(client, staff, make_user, capacity=1, waiting=1)
    await give_back(client, *filled.confirmed[0])
    offer = await open_offer(client, filled.waiting[0][0])
    await _backdate(database, uuid.UUID(offer["id"]), AFTER_THE_HOLD)
    monkeypatch.setenv("EVENTS_DATABASE_URL", events_url)
    monkeypatch.setenv("EVENTS_QR_SECRET", QR_SECRET)

    await asyncio.to_thread(cli.main, ["jobs"])

    assert "offers lapsed" in capsys.readouterr().out
    assert [row.state for row in await offers_of(database, filled.id)] == ["lapsed"]
    assert (
        await scalar(database, "SELECT confirmed_count FROM events WHERE id = :e", e=filled.id) == 0
    ), "nobody left to offer it to: the seat is free"
    with pytest.raises(SystemExit):
        cli.main(["jobs", "--every", "0"])


async def test_a_refused_charge_after_accepting_offers_the_seat_on(
    client: httpx.AsyncClient, database: Database, staff: User, make_user: Callable[..., User]
) -> None:
    """The saga of ADR 0007: the accepted seat is charged; refused, it is released
    (``payment_failed``, nothing to refund) and offered to the next in line."""
    filled = await crowd(client, staff, make_user, capacity=1, waiting=2, points_fee=FEE)
    (leaver, seat), (head, place), (second, later) = filled.confirmed[0], *filled.waiting
    await give_back(client, leaver, seat)
    offer = await open_offer(client, head)
    accepted = await client.post(f"/v1/offers/{offer['id']}/accept", headers=head.headers)
    assert accepted.status_code == 200, accepted.text

    await settle(database, place, charged=False)

    assert await status_of(database, place) == "cancelled"
    assert (await open_offer(client, second))["signup_id"] == later["id"]
    cancelled = await outbox_events(
        database, subject=filled.id, event_type="events.signup.cancelled.v1"
    )
    assert (cancelled[-1].data["reason"], cancelled[-1].data["refund_due"]) == (
        "payment_failed",
        0,
    )
    await assert_capacity_holds(database, filled)


async def test_new_seats_are_offered_to_the_waitlist(
    client: httpx.AsyncClient, database: Database, staff: User, make_user: Callable[..., User]
) -> None:
    filled = await crowd(client, staff, make_user, capacity=1, waiting=3)
    grown = await client.patch(
        f"/v1/events/{filled.id}", json={"capacity": 3}, headers=staff.headers
    )
    assert grown.status_code == 200, grown.text
    offered = [row.signup_id for row in await offers_of(database, filled.id)]
    assert offered == [uuid.UUID(place["id"]) for _, place in filled.waiting[:2]]
    assert grown.json()["seats_left"] == 0, "the new seats are held for the offers"
    filled.event["capacity"] = 3
    await assert_capacity_holds(database, filled)
