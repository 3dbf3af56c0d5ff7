"""What a no-show penalty does beyond first-come signups: a queue ticket opens later (the
pool's ``opens_at`` plus the delay; a 409 with nothing written before), and a draw applicant
weighs less (divided by ``EVENTS_NO_SHOW_DRAW_DIVISOR``)."""

import uuid
from collections.abc import Callable
from datetime import timedelta

import httpx

from kit.db import Database
from kit.testing.services import scalar
from services.events.tests.queue_support import code, pool, queue_event, take_ticket
from services.events.tests.support import User, now, published_event
from services.events.tests.test_draw_fairness import drawn
from services.events.tests.test_penalties import no_show


async def test_a_penalized_user_queues_only_after_the_delay(
    client: httpx.AsyncClient, database: Database, staff: User, make_user: Callable[..., User]
) -> None:
    penalized, punctual = make_user(), make_user()
    await no_show(client, database, staff, penalized)
    opened = now() - timedelta(minutes=1)
    event = await queue_event(client, staff, pools=[pool("everyone", 10, opens_at=opened)])

    refused = await take_ticket(client, event["id"], penalized)
    assert refused.status_code == 409, refused.text
    assert code(refused) == "penalty-delay"
    assert refused.json()["until"] == (opened + timedelta(seconds=600)).isoformat()
    tickets = await scalar(
        database,
        "SELECT count(*) FROM queue_tickets WHERE event_id = :e",
        e=uuid.UUID(event["id"]),
    )
    assert tickets == 0, "a refused ticket writes nothing"
    assert (await take_ticket(client, event["id"], punctual)).status_code == 201

    waived = await client.get("/v1/me/penalties", headers=penalized.headers)
    (penalty,) = waived.json()["items"]
    lifted = await client.post(
        f"/v1/penalties/{penalty['id']}/waive", json={"reason": "flat tyre"}, headers=staff.headers
    )
    assert lifted.status_code == 200, lifted.text
    assert (await take_ticket(client, event["id"], penalized)).status_code == 201


async def test_a_penalized_applicant_weighs_less_in_the_draw(
    client: httpx.AsyncClient, database: Database, staff: User, make_user: Callable[..., User]
) -> None:
    penalized, punctual = make_user(), make_user()
    await no_show(client, database, staff, penalized)
    event = await published_event(client, staff, signup_mode="draw", capacity=1)
    applied = {}
    for user in (penalized, punctual):
        response = await client.post(f"/v1/events/{event['id']}/signups", headers=user.headers)
        assert response.status_code == 201, response.text
        applied[user.id] = response.json()["id"]

    run = await drawn(client, staff, event["id"])
    weights = {applicant["signup_id"]: applicant["weight"] for applicant in run["applicants"]}
    assert weights == {applied[penalized.id]: "1/2", applied[punctual.id]: "1"}
