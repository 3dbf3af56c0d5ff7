"""Who did it: every staged event names its actor, and staff actions leave an audit record
in the same unit of work (approve and reject included, which once recorded nobody)."""

import uuid
from collections.abc import Callable

import httpx

from kit.db import Database
from kit.testing.services import outbox_events, rows
from services.events.tests.support import User, event_body, published_event


async def audit_trail(database: Database, subject: object) -> list[tuple[str, uuid.UUID]]:
    found = await rows(
        database,
        "SELECT action, actor_id FROM audit_records WHERE subject_id = :s ORDER BY at, id",
        s=str(subject),
    )
    return [(row.action, row.actor_id) for row in found]


async def test_approval_and_rejection_record_the_staff_member(
    database: Database, client: httpx.AsyncClient, staff: User, make_user: Callable[..., User]
) -> None:
    volunteer = make_user("volunteer")
    for decision, action in (("reject", "event.rejected"), ("approve", "event.approved")):
        created = await client.post("/v1/events", json=event_body(), headers=volunteer.headers)
        event_id = created.json()["id"]
        await client.post(f"/v1/events/{event_id}/submit", headers=volunteer.headers)
        body = {"reason": "no venue that day"} if decision == "reject" else None
        decided = await client.post(
            f"/v1/events/{event_id}/{decision}", json=body, headers=staff.headers
        )
        assert decided.status_code == 200, decided.text
        assert await audit_trail(database, event_id) == [(action, staff.id)]
    published = await outbox_events(
        database, subject=event_id, event_type="events.event.published.v1"
    )
    assert [event.actor for event in published] == [staff.id]


async def test_signups_are_staged_with_the_user_as_actor_and_staff_cancels_are_audited(
    database: Database, client: httpx.AsyncClient, staff: User, make_user: Callable[..., User]
) -> None:
    event = await published_event(client, staff, capacity=1)
    first, second = make_user(), make_user()
    seat = (await client.post(f"/v1/events/{event['id']}/signups", headers=first.headers)).json()
    await client.post(f"/v1/events/{event['id']}/signups", headers=second.headers)
    cancelled = await client.delete(f"/v1/signups/{seat['id']}", headers=staff.headers)
    assert cancelled.json()["status"] == "cancelled"
    staged = [(e.type, e.actor) for e in await outbox_events(database, subject=event["id"])]
    assert staged == [
        ("events.event.published.v1", staff.id),
        ("events.signup.confirmed.v1", first.id),
        ("events.signup.waitlisted.v1", second.id),
        ("events.signup.cancelled.v1", staff.id),
        ("events.signup.promoted.v1", staff.id),
    ]
    assert await audit_trail(database, seat["id"]) == [("signup.cancelled", staff.id)]


async def test_venues_are_a_cursor_page_and_their_changes_are_audited(
    database: Database, client: httpx.AsyncClient, staff: User
) -> None:
    city = f"Testville-{uuid.uuid4().hex[:8]}"
    ids = []
    for name in ("C hall", "A hall", "B hall"):
        venue = {
            "name": name,
            "city": city,
            "address": "1 Road",
            "capacity": 50,
            "timezone": "Europe/Berlin",
        }
        created = await client.post("/v1/venues", json=venue, headers=staff.headers)
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    first = (await client.get("/v1/venues", params={"city": city, "limit": 2})).json()
    rest = (
        await client.get("/v1/venues", params={"city": city, "cursor": first["next_cursor"]})
    ).json()
    assert [v["name"] for v in first["items"] + rest["items"]] == ["A hall", "B hall", "C hall"]
    assert rest["next_cursor"] is None
    renamed = await client.patch(
        f"/v1/venues/{ids[0]}", json={"name": "D hall"}, headers=staff.headers
    )
    assert renamed.status_code == 200
    assert await audit_trail(database, ids[0]) == [
        ("venue.created", staff.id),
        ("venue.updated", staff.id),
    ]
