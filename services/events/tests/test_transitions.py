"""Every seat transition that must be refused once the signup or the event moved on:
cancel after check-in or after the start, check-in of a signup that holds no seat or of an
event that is over, an entry code for a signup already checked in, a revival that keeps a
stale check-in. A refusal is a 409 problem and changes nothing."""

import asyncio
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from kit.db import Database
from kit.testing.services import rows, scalar
from services.events.service.checkin import QrSigner
from services.events.tests.support import User, now, published_event


def assert_conflict(response: httpx.Response, code: str) -> None:
    assert response.status_code == 409, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith(f"/{code}")


async def sign_up(client: httpx.AsyncClient, event: dict[str, Any], user: User) -> dict[str, Any]:
    response = await client.post(f"/v1/events/{event['id']}/signups", headers=user.headers)
    assert response.status_code == 201, response.text
    signup: dict[str, Any] = response.json()
    return signup


async def qr(client: httpx.AsyncClient, signup: dict[str, Any], user: User) -> httpx.Response:
    return await client.get(f"/v1/signups/{signup['id']}/qr", headers=user.headers)


async def check_in(
    client: httpx.AsyncClient, event: dict[str, Any], token: str, staff: User
) -> httpx.Response:
    url = f"/v1/events/{event['id']}/checkins"
    return await client.post(url, json={"token": token}, headers=staff.headers)


async def cancel(client: httpx.AsyncClient, signup: dict[str, Any], user: User) -> httpx.Response:
    return await client.post(f"/v1/signups/{signup['id']}/cancel", headers=user.headers)


async def checked_in_signup(
    client: httpx.AsyncClient, staff: User, fan: User, **event: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    published = await published_event(client, staff, **event)
    signup = await sign_up(client, published, fan)
    token = (await qr(client, signup, fan)).json()["token"]
    assert (await check_in(client, published, token, staff)).status_code == 200
    return published, signup


async def seats(database: Database, event: dict[str, Any]) -> tuple[int, list[tuple[Any, ...]]]:
    confirmed = await scalar(
        database, "SELECT confirmed_count FROM events WHERE id = :id", id=uuid.UUID(event["id"])
    )
    found = await rows(
        database,
        "SELECT user_id, status, checked_in_at IS NOT NULL FROM signups WHERE event_id = :id"
        " ORDER BY created_at, id",
        id=uuid.UUID(event["id"]),
    )
    return confirmed, [tuple(row) for row in found]


async def execute(database: Database, sql: str, **params: Any) -> None:
    async with database.engine.begin() as connection:
        await connection.execute(text(sql), params)


async def move_start(database: Database, event: dict[str, Any], by: timedelta) -> None:
    """Shift the event's schedule so that it starts ``by`` from now (negative: started)."""
    start = now() + by
    await execute(
        database,
        "UPDATE events SET starts_at = :start, ends_at = :end, opens_at = :opens,"
        " closes_at = :closes WHERE id = :id",
        start=start,
        end=start + timedelta(hours=3),
        opens=start - timedelta(days=2),
        closes=start - timedelta(hours=1),
        id=uuid.UUID(event["id"]),
    )


async def test_cancel_after_check_in_is_refused_for_the_user_and_for_staff(
    client: httpx.AsyncClient, database: Database, staff: User, make_user: Callable[..., User]
) -> None:
    fan = make_user()
    event, signup = await checked_in_signup(client, staff, fan, capacity=1)
    waiting = make_user()
    await sign_up(client, event, waiting)
    before = await seats(database, event)
    assert before == (1, [(fan.id, "confirmed", True), (waiting.id, "waitlisted", False)])

    assert_conflict(await cancel(client, signup, fan), "already-checked-in")
    deleted = await client.delete(f"/v1/signups/{signup['id']}", headers=fan.headers)
    assert_conflict(deleted, "already-checked-in")
    assert_conflict(await cancel(client, signup, staff), "already-checked-in")
    assert await seats(database, event) == before, "no seat freed, nobody promoted"


async def test_check_in_of_a_cancelled_signup_is_refused(
    client: httpx.AsyncClient, database: Database, staff: User, make_user: Callable[..., User]
) -> None:
    fan = make_user()
    event = await published_event(client, staff)
    signup = await sign_up(client, event, fan)
    token = (await qr(client, signup, fan)).json()["token"]
    assert (await cancel(client, signup, fan)).status_code == 200

    assert_conflict(await check_in(client, event, token, staff), "not-confirmed")
    assert await seats(database, event) == (0, [(fan.id, "cancelled", False)])


async def test_a_waitlisted_signup_has_no_entry_code_and_cannot_check_in(
    client: httpx.AsyncClient,
    database: Database,
    app: FastAPI,
    staff: User,
    make_user: Callable[..., User],
) -> None:
    first, second = make_user(), make_user()
    event = await published_event(client, staff, capacity=1)
    await sign_up(client, event, first)
    waitlisted = await sign_up(client, event, second)
    assert waitlisted["status"] == "waitlisted"

    assert_conflict(await qr(client, waitlisted, second), "not-confirmed")
    signer: QrSigner = app.state.qr_signer
    token, _ = signer.issue(uuid.UUID(waitlisted["id"]))
    assert_conflict(await check_in(client, event, token, staff), "not-confirmed")
    assert (await seats(database, event))[1][1] == (second.id, "waitlisted", False)


async def test_no_entry_code_for_a_signup_already_checked_in(
    client: httpx.AsyncClient, staff: User, make_user: Callable[..., User]
) -> None:
    fan = make_user()
    _, signup = await checked_in_signup(client, staff, fan)
    assert_conflict(await qr(client, signup, fan), "already-checked-in")


async def test_cancel_after_the_start_is_refused_and_promotes_nobody(
    client: httpx.AsyncClient, database: Database, staff: User, make_user: Callable[..., User]
) -> None:
    fan, waiting = make_user(), make_user()
    event = await published_event(client, staff, capacity=1)
    signup = await sign_up(client, event, fan)
    queued = await sign_up(client, event, waiting)
    await move_start(database, event, -timedelta(minutes=10))
    before = await seats(database, event)

    assert_conflict(await cancel(client, signup, fan), "event-started")
    assert_conflict(await cancel(client, signup, staff), "event-started")
    assert_conflict(await cancel(client, queued, waiting), "event-started")
    assert (
        await seats(database, event)
        == before
        == (
            1,
            [(fan.id, "confirmed", False), (waiting.id, "waitlisted", False)],
        )
    )


async def test_check_in_after_the_end_is_refused(
    client: httpx.AsyncClient, database: Database, staff: User, make_user: Callable[..., User]
) -> None:
    fan = make_user()
    event = await published_event(client, staff)
    signup = await sign_up(client, event, fan)
    token = (await qr(client, signup, fan)).json()["token"]
    await move_start(database, event, -timedelta(hours=4))

    assert_conflict(await check_in(client, event, token, staff), "event-ended")
    assert await seats(database, event) == (1, [(fan.id, "confirmed", False)])


async def test_check_in_during_the_event_is_accepted(
    client: httpx.AsyncClient, database: Database, staff: User, make_user: Callable[..., User]
) -> None:
    fan = make_user()
    event = await published_event(client, staff)
    signup = await sign_up(client, event, fan)
    token = (await qr(client, signup, fan)).json()["token"]
    await move_start(database, event, -timedelta(minutes=30))

    checked = await check_in(client, event, token, staff)
    assert checked.status_code == 200, checked.text
    assert await seats(database, event) == (1, [(fan.id, "confirmed", True)])


async def test_a_revived_signup_carries_no_stale_check_in(
    client: httpx.AsyncClient, database: Database, staff: User, make_user: Callable[..., User]
) -> None:
    fan = make_user()
    event = await published_event(client, staff)
    signup = await sign_up(client, event, fan)
    assert (await cancel(client, signup, fan)).status_code == 200
    # A row left by older code: cancelled, yet marked present.
    await execute(
        database,
        "UPDATE signups SET checked_in_at = :at WHERE id = :id",
        at=now(),
        id=uuid.UUID(signup["id"]),
    )
    again = await client.post(f"/v1/events/{event['id']}/signups", headers=fan.headers)
    assert again.status_code == 201, again.text
    assert again.json()["id"] == signup["id"]
    assert (again.json()["status"], again.json()["checked_in_at"]) == ("confirmed", None)
    assert (await qr(client, again.json(), fan)).status_code == 200


async def test_staff_and_user_may_cancel_before_the_start(
    client: httpx.AsyncClient, database: Database, staff: User, make_user: Callable[..., User]
) -> None:
    own, other = make_user(), make_user()
    event = await published_event(client, staff)
    mine = await sign_up(client, event, own)
    theirs = await sign_up(client, event, other)
    assert (await cancel(client, mine, own)).json()["status"] == "cancelled"
    assert (await cancel(client, theirs, staff)).json()["status"] == "cancelled"
    assert (await cancel(client, theirs, other)).json()["status"] == "cancelled", "idempotent"
    assert (await cancel(client, mine, other)).status_code == 404, "someone else's signup"
    assert (await seats(database, event))[0] == 0


async def test_concurrent_cancel_and_check_in_never_leave_a_cancelled_attendee(
    client: httpx.AsyncClient, database: Database, staff: User, make_user: Callable[..., User]
) -> None:
    for _ in range(5):
        fan = make_user()
        event = await published_event(client, staff)
        signup = await sign_up(client, event, fan)
        token = (await qr(client, signup, fan)).json()["token"]
        cancelled, checked = await asyncio.gather(
            cancel(client, signup, fan), check_in(client, event, token, staff)
        )
        outcome = (cancelled.status_code, checked.status_code)
        assert outcome in {(200, 409), (409, 200)}, (cancelled.text, checked.text)
        expected = (
            (0, [(fan.id, "cancelled", False)])
            if outcome == (200, 409)
            else (
                1,
                [(fan.id, "confirmed", True)],
            )
        )
        assert await seats(database, event) == expected
