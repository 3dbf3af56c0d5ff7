"""Capacity pools of queue events: a user's pool follows their roles when they queue,
pools open in waves (409 with ``opens_at`` before), a closed pool's unused seats flow to
the next, and pools that do not fit the event are refused with nothing written."""

import json
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import text

from kit.db import Database
from kit.testing.services import rows, scalar
from kit.testing.waiting import eventually
from services.events.tests.queue_support import answer, code, pool, queue_event, take_ticket
from services.events.tests.support import User, event_body, now


async def test_a_users_pool_follows_their_roles(
    client: httpx.AsyncClient, database: Database, staff: User, make_user: Callable[..., User]
) -> None:
    event = await queue_event(
        client,
        staff,
        pools=[
            pool("owners", 2, audience="owners"),
            pool("club", 2, audience="club_members"),
            pool("volunteers", 2, audience="volunteers"),
            pool("fans", 2, audience="fans"),
        ],
    )
    announced = make_user()
    async with database.engine.begin() as connection:
        await connection.execute(
            text("INSERT INTO member_roles (user_id, roles, updated_at) VALUES (:u, :r, :t)"),
            {"u": announced.id, "r": json.dumps(["fan", "owner"]), "t": now()},
        )
    expected = {
        "owners": make_user("owner", "club"),
        "club": make_user("fan", "club"),
        "volunteers": make_user("volunteer"),
        "fans": make_user(),
    }
    for name, user in expected.items():
        response = await take_ticket(client, event["id"], user)
        assert response.status_code == 201, response.text
        assert response.json()["pool"]["name"] == name
    by_announced_role = await take_ticket(client, event["id"], announced)
    assert by_announced_role.json()["pool"]["name"] == "owners"


async def test_pools_open_in_waves(
    client: httpx.AsyncClient, database: Database, staff: User, make_user: Callable[..., User]
) -> None:
    later = now() + timedelta(hours=1)
    event = await queue_event(
        client,
        staff,
        pools=[
            pool("owners", 3, audience="owners"),
            pool("fans", 3, audience="fans", opens_at=later),
        ],
    )
    assert datetime.fromisoformat(event["queue"]["next_wave_at"]) == later
    fan = make_user()
    early = await take_ticket(client, event["id"], fan)
    assert early.status_code == 409, early.text
    assert code(early) == "signups-not-open"
    assert early.json()["opens_at"] == later.isoformat()
    owner = make_user("owner")
    assert (await take_ticket(client, event["id"], owner)).status_code == 201
    count = "SELECT count(*) FROM queue_tickets WHERE event_id = :e"
    assert await scalar(database, count, e=uuid.UUID(event["id"])) == 1

    only_owners = await queue_event(client, staff, pools=[pool("owners", 2, audience="owners")])
    nobody = await take_ticket(client, only_owners["id"], fan)
    assert nobody.status_code == 403
    assert code(nobody) == "no-pool"
    assert await scalar(database, count, e=uuid.UUID(only_owners["id"])) == 0


async def test_a_closed_pools_unused_seats_flow_to_the_next(
    client: httpx.AsyncClient, database: Database, staff: User, make_user: Callable[..., User]
) -> None:
    closes = now() + timedelta(seconds=4)
    event = await queue_event(
        client,
        staff,
        pools=[pool("first", 3, closes_at=closes), pool("second", 2)],
    )
    early = make_user()
    ticket = (await take_ticket(client, event["id"], early)).json()
    assert ticket["pool"]["name"] == "first"
    assert (await answer(client, ticket["id"], early))["state"] == "confirmed"

    async def flowed() -> list[Any]:
        found = await rows(
            database,
            "SELECT name, size, taken, carried_in, flowed_at FROM event_pools "
            "WHERE event_id = :e ORDER BY rank",
            e=uuid.UUID(event["id"]),
        )
        return found if found[0].flowed_at is not None else []

    await eventually(flowed, timeout=15, message="the closed pool's seats never flowed")
    first, second = await flowed()
    assert (first.size, first.taken, first.carried_in) == (1, 1, 0)
    assert (second.size, second.taken, second.carried_in) == (4, 0, 2)

    late = [make_user() for _ in range(5)]
    answers = []
    for user in late:
        response = await take_ticket(client, event["id"], user)
        assert response.json()["pool"]["name"] == "second"
        answers.append(await answer(client, response.json()["id"], user))
    assert [a["state"] for a in answers] == ["confirmed"] * 4 + ["waitlisted"]
    page = (await client.get(f"/v1/events/{event['id']}")).json()
    assert [(p["name"], p["size"], p["seats_left"]) for p in page["pools"]] == [
        ("first", 1, 0),
        ("second", 4, 0),
    ]
    assert page["confirmed_count"] == 5


async def test_pools_that_do_not_fit_are_refused(
    client: httpx.AsyncClient, database: Database, staff: User
) -> None:
    window_open = now() - timedelta(minutes=5)
    bad: dict[str, dict[str, Any]] = {
        "sizes": {"capacity": 5, "pools": [pool("a", 2), pool("b", 2)]},
        "mode": {"signup_mode": "first_come", "capacity": 2, "pools": [pool("a", 2)]},
        "too early": {"pools": [pool("a", 2, opens_at=window_open - timedelta(minutes=1))]},
        "backwards": {
            "pools": [pool("a", 2, opens_at=now() + timedelta(hours=2), closes_at=now())]
        },
        "after the window": {
            "pools": [pool("a", 2, opens_at=now() + timedelta(days=3))],
        },
        "none": {"pools": []},
    }
    for case, overrides in bad.items():
        body = event_body(signup_mode="queue", capacity=2, opens_at=window_open.isoformat())
        body.update(overrides)
        response = await client.post("/v1/events", json=body, headers=staff.headers)
        assert response.status_code == 422, (case, response.text)
    organized = "SELECT count(*) FROM events WHERE organizer_id = :o"
    assert await scalar(database, organized, o=staff.id) == 0
    assert (
        await scalar(
            database,
            "SELECT count(*) FROM event_pools p LEFT JOIN events e "
            "ON e.id = p.event_id WHERE e.id IS NULL",
        )
        == 0
    )

    event = await queue_event(client, staff, pools=[pool("a", 2), pool("b", 1)])
    grown = await client.patch(
        f"/v1/events/{event['id']}", json={"capacity": 9}, headers=staff.headers
    )
    assert grown.status_code == 409
    assert code(grown) == "pools-fixed"
    narrowed = await client.patch(
        f"/v1/events/{event['id']}",
        json={"opens_at": now().isoformat()},
        headers=staff.headers,
    )
    assert narrowed.status_code == 422, narrowed.text
    assert code(narrowed) == "bad-pools"
    unchanged = (await client.get(f"/v1/events/{event['id']}")).json()
    assert unchanged["capacity"] == 3
    assert unchanged["opens_at"] == event["opens_at"]
