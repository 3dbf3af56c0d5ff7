"""A queue event's freed seats: offered to the waitlist's head (queue events offer by
default), and with nobody waiting free again in a pool for the next ticket to take, so
that the pools' seats taken always add up to the event's confirmed seats."""

import asyncio
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx

from kit.db import Database
from kit.testing.services import scalar
from services.events.tests.queue_support import answer, pool, queue_event, take_ticket
from services.events.tests.support import User, now


async def seated(
    client: httpx.AsyncClient, event_id: str, users: list[User]
) -> list[dict[str, Any]]:
    """Each user's answered ticket, taken one after the other (so in this order)."""
    answered = []
    for user in users:
        response = await take_ticket(client, event_id, user)
        assert response.status_code == 201, response.text
        answered.append(await answer(client, response.json()["id"], user))
    return answered


async def pools_taken(database: Database, event_id: str) -> tuple[int, int]:
    """The sum of the pools' ``taken`` and the event's ``confirmed_count``."""
    taken = await scalar(
        database,
        "SELECT sum(taken) FROM event_pools WHERE event_id = :e",
        e=uuid.UUID(event_id),
    )
    confirmed = await scalar(
        database, "SELECT confirmed_count FROM events WHERE id = :e", e=uuid.UUID(event_id)
    )
    return int(taken), int(confirmed)


async def test_a_queue_events_freed_seat_is_offered_to_the_waitlists_head(
    client: httpx.AsyncClient, database: Database, staff: User, make_user: Callable[..., User]
) -> None:
    event = await queue_event(client, staff, capacity=1)
    assert event["waitlist_offers"] is True
    first, second = make_user(), make_user()
    holder, waiting = await seated(client, event["id"], [first, second])
    assert (holder["state"], waiting["state"]) == ("confirmed", "waitlisted")

    cancelled = await client.delete(f"/v1/signups/{holder['signup_id']}", headers=first.headers)
    assert cancelled.status_code == 200, cancelled.text
    offers = (await client.get("/v1/me/offers", headers=second.headers)).json()["items"]
    assert [offer["signup_id"] for offer in offers] == [waiting["signup_id"]]
    assert await pools_taken(database, event["id"]) == (1, 1), "the held seat stays counted"

    accepted = await client.post(f"/v1/offers/{offers[0]['id']}/accept", headers=second.headers)
    assert accepted.status_code == 200, accepted.text
    signup = await client.get(f"/v1/signups/{waiting['signup_id']}", headers=second.headers)
    assert signup.json()["status"] == "confirmed"
    assert await pools_taken(database, event["id"]) == (1, 1)


async def test_a_seat_freed_with_nobody_waiting_goes_back_to_its_pool(
    client: httpx.AsyncClient, database: Database, staff: User, make_user: Callable[..., User]
) -> None:
    event = await queue_event(
        client, staff, pools=[pool("owners", 1, audience="owners"), pool("fans", 1)]
    )
    owner, fan, latecomer = make_user("owner"), make_user("fan"), make_user("owner")
    owners_seat, fans_seat = await seated(client, event["id"], [owner, fan])
    assert owners_seat["state"] == fans_seat["state"] == "confirmed"

    cancelled = await client.delete(
        f"/v1/signups/{owners_seat['signup_id']}", headers=owner.headers
    )
    assert cancelled.status_code == 200, cancelled.text
    assert await pools_taken(database, event["id"]) == (1, 1)
    page = (await client.get(f"/v1/events/{event['id']}")).json()
    assert [(p["name"], p["seats_left"]) for p in page["pools"]] == [("owners", 1), ("fans", 0)]

    (late,) = await seated(client, event["id"], [latecomer])
    assert late["state"] == "confirmed", "the freed owners' seat is taken by the next owner"
    assert await pools_taken(database, event["id"]) == (2, 2)


async def test_a_seat_freed_in_a_closed_pool_moves_to_the_open_one(
    client: httpx.AsyncClient, database: Database, staff: User, make_user: Callable[..., User]
) -> None:
    closes = now() + timedelta(seconds=3)
    event = await queue_event(
        client,
        staff,
        pools=[
            pool("owners", 1, audience="owners", closes_at=closes),
            pool("fans", 1),
        ],
    )
    owner = make_user("owner")
    (owners_seat,) = await seated(client, event["id"], [owner])
    await wait_until(closes)
    cancelled = await client.delete(
        f"/v1/signups/{owners_seat['signup_id']}", headers=owner.headers
    )
    assert cancelled.status_code == 200, cancelled.text
    sizes = await scalar(
        database,
        "SELECT string_agg(name || ':' || size || '/' || taken, ',' ORDER BY rank)"
        " FROM event_pools WHERE event_id = :e",
        e=uuid.UUID(event["id"]),
    )
    assert sizes == "owners:0/0,fans:2/0"
    fans = [make_user("fan"), make_user("fan")]
    answered = await seated(client, event["id"], fans)
    assert [ticket["state"] for ticket in answered] == ["confirmed", "confirmed"]


async def wait_until(moment: datetime) -> None:
    await asyncio.sleep(max((moment - now()).total_seconds() + 0.1, 0))
