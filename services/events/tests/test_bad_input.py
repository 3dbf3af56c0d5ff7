"""Bad input gets a clear 4xx problem document and writes nothing."""

import uuid
from collections.abc import Callable
from datetime import timedelta

import httpx
from fastapi import FastAPI

from kit.db import Database
from kit.testing.services import scalar
from kit.testing.tokens import TokenMinter
from services.events.tests.support import User, event_body, now, published_event


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, object] = response.json()
    assert body["type"] == f"https://paddock.dev/problems/{code}"
    return body


async def signups_of(database: Database, event_id: str) -> int:
    return int(
        await scalar(
            database, "SELECT count(*) FROM signups WHERE event_id = :e", e=uuid.UUID(event_id)
        )
    )


async def test_signup_before_opening_says_when_it_opens(
    client: httpx.AsyncClient, database: Database, staff: User, make_user: Callable[..., User]
) -> None:
    opens = now() + timedelta(hours=1)
    event = await published_event(client, staff, opens_at=opens.isoformat())
    response = await client.post(f"/v1/events/{event['id']}/signups", headers=make_user().headers)
    body = assert_problem(response, 409, "signups-not-open")
    assert body["opens_at"] == event["opens_at"].replace("Z", "+00:00")
    assert await signups_of(database, event["id"]) == 0


async def test_signup_after_closing(
    client: httpx.AsyncClient, database: Database, staff: User, make_user: Callable[..., User]
) -> None:
    event = await published_event(
        client,
        staff,
        opens_at=(now() - timedelta(hours=2)).isoformat(),
        closes_at=(now() - timedelta(hours=1)).isoformat(),
    )
    response = await client.post(f"/v1/events/{event['id']}/signups", headers=make_user().headers)
    assert_problem(response, 409, "signups-closed")
    assert await signups_of(database, event["id"]) == 0


async def test_signup_to_cancelled_or_unknown_event(
    client: httpx.AsyncClient, database: Database, staff: User, make_user: Callable[..., User]
) -> None:
    event = await published_event(client, staff)
    cancelled = await client.post(
        f"/v1/events/{event['id']}/cancel", json={"reason": "storm"}, headers=staff.headers
    )
    assert cancelled.status_code == 200
    fan = make_user()
    response = await client.post(f"/v1/events/{event['id']}/signups", headers=fan.headers)
    assert_problem(response, 409, "event-cancelled")
    unknown = await client.post(f"/v1/events/{uuid.uuid4()}/signups", headers=fan.headers)
    assert_problem(unknown, 404, "not-found")
    assert await signups_of(database, event["id"]) == 0


async def test_ineligible_users_are_refused(
    client: httpx.AsyncClient, database: Database, staff: User, make_user: Callable[..., User]
) -> None:
    owners = await published_event(client, staff, eligibility="owners_only")
    tiered = await published_event(client, staff, eligibility="min_tier", min_tier=2)
    fan = make_user("fan")
    for event in (owners, tiered):
        response = await client.post(f"/v1/events/{event['id']}/signups", headers=fan.headers)
        assert_problem(response, 403, "not-eligible")
        assert await signups_of(database, event["id"]) == 0
    owner = make_user("owner")
    allowed = await client.post(f"/v1/events/{owners['id']}/signups", headers=owner.headers)
    assert allowed.status_code == 201


async def test_min_tier_admits_a_token_whose_tier_reaches_it(
    client: httpx.AsyncClient, database: Database, staff: User, minter: TokenMinter
) -> None:
    tiered = await published_event(client, staff, eligibility="min_tier", min_tier=2)
    below = minter.headers(uuid.uuid4(), ("fan",), tier=1)
    refused = await client.post(f"/v1/events/{tiered['id']}/signups", headers=below)
    assert_problem(refused, 403, "not-eligible")
    assert await signups_of(database, tiered["id"]) == 0
    for tier in (2, 3):
        admitted = minter.headers(uuid.uuid4(), ("fan",), tier=tier)
        response = await client.post(f"/v1/events/{tiered['id']}/signups", headers=admitted)
        assert response.status_code == 201, response.text
    assert await signups_of(database, tiered["id"]) == 2


async def test_nobody_touches_someone_elses_signup(
    client: httpx.AsyncClient, database: Database, staff: User, make_user: Callable[..., User]
) -> None:
    event = await published_event(client, staff)
    owner, stranger = make_user(), make_user()
    signup = (await client.post(f"/v1/events/{event['id']}/signups", headers=owner.headers)).json()
    for call in (
        client.delete(f"/v1/signups/{signup['id']}", headers=stranger.headers),
        client.post(f"/v1/signups/{signup['id']}/cancel", headers=stranger.headers),
        client.get(f"/v1/signups/{signup['id']}", headers=stranger.headers),
        client.get(f"/v1/signups/{signup['id']}/qr", headers=stranger.headers),
    ):
        assert_problem(await call, 404, "not-found")
    status = await scalar(
        database, "SELECT status FROM signups WHERE id = :s", s=uuid.UUID(signup["id"])
    )
    assert status == "confirmed"


async def test_forged_expired_and_foreign_qr_tokens(
    app: FastAPI, client: httpx.AsyncClient, staff: User, make_user: Callable[..., User]
) -> None:
    event = await published_event(client, staff)
    other = await published_event(client, staff)
    fan = make_user()
    signup = (await client.post(f"/v1/events/{event['id']}/signups", headers=fan.headers)).json()
    signer = app.state.qr_signer
    signup_id = uuid.UUID(signup["id"])
    good, _ = signer.issue(signup_id)
    forged = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    expired, _ = signer.issue(signup_id, at=(now() - timedelta(minutes=30)).timestamp())
    url = f"/v1/events/{event['id']}/checkins"
    for token, code in (
        (forged, "qr-invalid"),
        ("nonsense", "qr-invalid"),
        (expired, "qr-expired"),
    ):
        assert_problem(
            await client.post(url, json={"token": token}, headers=staff.headers), 422, code
        )
    foreign = await client.post(
        f"/v1/events/{other['id']}/checkins", json={"token": good}, headers=staff.headers
    )
    assert_problem(foreign, 422, "qr-wrong-event")
    by_fan = await client.post(url, json={"token": good}, headers=fan.headers)
    assert_problem(by_fan, 403, "forbidden")
    mine = await client.get(f"/v1/signups/{signup['id']}", headers=fan.headers)
    assert mine.json()["checked_in_at"] is None


async def test_volunteer_cannot_publish_without_approval(
    client: httpx.AsyncClient, staff: User, make_user: Callable[..., User]
) -> None:

    volunteer = make_user("volunteer")
    created = await client.post("/v1/events", json=event_body(), headers=volunteer.headers)
    assert created.status_code == 201
    event_id = created.json()["id"]
    refused = await client.post(f"/v1/events/{event_id}/publish", headers=volunteer.headers)
    assert_problem(refused, 403, "approval-required")
    seen = await client.get(f"/v1/events/{event_id}", headers=volunteer.headers)
    assert seen.json()["status"] == "draft"
    assert (await client.get(f"/v1/events/{event_id}")).status_code == 404
    fan_creates = await client.post("/v1/events", json=event_body(), headers=make_user().headers)
    assert_problem(fan_creates, 403, "forbidden")
    submitted = await client.post(f"/v1/events/{event_id}/submit", headers=volunteer.headers)
    assert submitted.json()["status"] == "pending_approval"
    approved = await client.post(f"/v1/events/{event_id}/approve", headers=staff.headers)
    assert approved.json()["status"] == "published"


async def test_bodies_refuse_unknown_fields_and_bad_schedules(
    client: httpx.AsyncClient, staff: User
) -> None:

    extra = await client.post("/v1/events", json=event_body(colour="red"), headers=staff.headers)
    assert_problem(extra, 422, "validation-error")
    backwards = event_body(ends_at=(now() + timedelta(days=1)).isoformat())
    assert_problem(
        await client.post("/v1/events", json=backwards, headers=staff.headers),
        422,
        "validation-error",
    )
    zone = {
        "name": "Hub",
        "city": "Oslo",
        "address": "1 Quay",
        "capacity": 5,
        "timezone": "Mars/Olympus",
    }
    assert_problem(
        await client.post("/v1/venues", json=zone, headers=staff.headers), 422, "validation-error"
    )


async def test_capacity_never_shrinks_below_confirmed_seats(
    client: httpx.AsyncClient, staff: User, make_user: Callable[..., User]
) -> None:
    event = await published_event(client, staff, capacity=2)
    for _ in range(3):
        await client.post(f"/v1/events/{event['id']}/signups", headers=make_user().headers)
    shrink = await client.patch(
        f"/v1/events/{event['id']}", json={"capacity": 1}, headers=staff.headers
    )
    assert_problem(shrink, 409, "capacity-below-confirmed")
    grow = await client.patch(
        f"/v1/events/{event['id']}", json={"capacity": 3}, headers=staff.headers
    )
    assert grow.json()["confirmed_count"] == 3, "the waitlisted user took the new seat"
