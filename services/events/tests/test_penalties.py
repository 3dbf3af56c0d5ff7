"""No-show penalties on PostgreSQL: a confirmed seat neither checked in nor cancelled when
the event is completed (or, never completed, a grace after its end: the job) earns one
penalty; while it lasts the user's first-come signups open later, on the rush's one
statement and on the unit of work alike; the user sees it; staff waive it (audited), and a
waived penalty delays nothing."""

import asyncio
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from kit.auth import Principal
from kit.db import Database, utcnow
from kit.testing.services import outbox_events, rows, scalar
from services.events import cli
from services.events.service import penalties, rush
from services.events.service.penalties import PenaltyPolicy
from services.events.tests.support import QR_SECRET, User, now, published_event

ISSUED = "events.penalty.issued.v1"
WAIVED = "events.penalty.waived.v1"


async def execute(database: Database, sql: str, **params: Any) -> None:
    async with database.engine.begin() as connection:
        await connection.execute(text(sql), params)


async def end_event(database: Database, event: dict[str, Any], ago: timedelta) -> datetime:
    """Shift the event's schedule so that it ended ``ago``; its new end."""
    end = now() - ago
    await execute(
        database,
        "UPDATE events SET starts_at = :start, ends_at = :end, opens_at = :opens,"
        " closes_at = :closes WHERE id = :id",
        start=end - timedelta(hours=3),
        end=end,
        opens=end - timedelta(days=3),
        closes=end - timedelta(hours=4),
        id=uuid.UUID(event["id"]),
    )
    return end


async def sign_up(client: httpx.AsyncClient, event: dict[str, Any], user: User) -> httpx.Response:
    return await client.post(f"/v1/events/{event['id']}/signups", headers=user.headers)


async def penalties_of(database: Database, event: dict[str, Any]) -> list[Any]:
    return await rows(
        database,
        "SELECT id, user_id, signup_id, ends_at, waived_at FROM penalties WHERE event_id = :e",
        e=uuid.UUID(event["id"]),
    )


async def signups_of(database: Database, event: dict[str, Any]) -> int:
    return int(
        await scalar(
            database, "SELECT count(*) FROM signups WHERE event_id = :e", e=uuid.UUID(event["id"])
        )
    )


async def no_show(
    client: httpx.AsyncClient,
    database: Database,
    staff: User,
    *users: User,
    ago: timedelta = timedelta(hours=1),
) -> dict[str, Any]:
    """An event the ``users`` signed up for (it opened long enough ago to let penalized
    users in) and missed, completed by staff."""
    event = await published_event(client, staff, opens_at=(now() - timedelta(hours=1)).isoformat())
    for user in users:
        assert (await sign_up(client, event, user)).status_code == 201
    await end_event(database, event, ago)
    completed = await client.post(f"/v1/events/{event['id']}/complete", headers=staff.headers)
    assert completed.status_code == 200, completed.text
    return event


async def test_a_no_show_delays_the_next_signups_until_staff_waive_it(
    client: httpx.AsyncClient,
    database: Database,
    app: FastAPI,
    staff: User,
    make_user: Callable[..., User],
) -> None:
    missing, present, cancelling = make_user(), make_user(), make_user()
    past = await published_event(client, staff)
    signups = {}
    for user in (missing, present, cancelling):
        signups[user.id] = (await sign_up(client, past, user)).json()
    qr = await client.get(f"/v1/signups/{signups[present.id]['id']}/qr", headers=present.headers)
    checked = await client.post(
        f"/v1/events/{past['id']}/checkins",
        json={"token": qr.json()["token"]},
        headers=staff.headers,
    )
    assert checked.status_code == 200, checked.text
    await client.post(
        f"/v1/signups/{signups[cancelling.id]['id']}/cancel", headers=cancelling.headers
    )
    # The next event opened a minute ago; the penalized user cancelled a signup to it before.
    revived = await published_event(client, staff)
    earlier = (await sign_up(client, revived, missing)).json()
    await client.post(f"/v1/signups/{earlier['id']}/cancel", headers=missing.headers)
    ended = await end_event(database, past, timedelta(hours=1))

    completed = await client.post(f"/v1/events/{past['id']}/complete", headers=staff.headers)
    assert completed.status_code == 200, completed.text

    policy: PenaltyPolicy = app.state.penalty_policy
    found = await penalties_of(database, past)
    assert [(row.user_id, str(row.signup_id)) for row in found] == [
        (missing.id, signups[missing.id]["id"])
    ]
    assert found[0].ends_at == ended + policy.duration
    issued = await outbox_events(database, subject=past["id"], event_type=ISSUED)
    assert [(event.data["user_id"], event.actor) for event in issued] == [(str(missing.id), None)]
    again = await client.post(f"/v1/events/{past['id']}/complete", headers=staff.headers)
    assert again.status_code == 409
    assert len(await penalties_of(database, past)) == 1

    mine = (await client.get("/v1/me/penalties", headers=missing.headers)).json()["items"]
    assert [(p["reason"], p["event_id"], p["event_title"]) for p in mine] == [
        ("no_show", past["id"], past["title"])
    ]
    assert (mine[0]["active"], mine[0]["delay_seconds"], mine[0]["waived_at"]) == (True, 600, None)
    assert (await client.get("/v1/me/penalties", headers=present.headers)).json()["items"] == []

    # Delayed: on the rush's one statement (new signup) and on the unit of work (revival).
    fresh = await published_event(client, staff)
    for event in (fresh, revived):
        before = await signups_of(database, event)
        refused = await sign_up(client, event, missing)
        assert refused.status_code == 409, refused.text
        body = refused.json()
        assert body["type"].endswith("/penalty-delay")
        assert body["penalty_id"] == str(found[0].id)
        opens = datetime.fromisoformat(event["opens_at"])
        assert datetime.fromisoformat(body["until"]) == opens + policy.delay
        assert await signups_of(database, event) == before
    assert (await sign_up(client, fresh, present)).status_code == 201, "others are not delayed"
    # An event that opened longer ago than the delay takes the penalized user at once.
    long_open = await published_event(
        client, staff, opens_at=(now() - policy.delay - timedelta(minutes=1)).isoformat()
    )
    assert (await sign_up(client, long_open, missing)).status_code == 201

    listed = await client.get(
        "/v1/penalties", params={"user_id": str(missing.id)}, headers=staff.headers
    )
    assert [p["id"] for p in listed.json()["items"]] == [str(found[0].id)]
    waive_url = f"/v1/penalties/{found[0].id}/waive"
    for who in (missing, present):
        assert (await client.get("/v1/penalties", headers=who.headers)).status_code == 403
        forbidden = await client.post(waive_url, json={"reason": "mine"}, headers=who.headers)
        assert forbidden.status_code == 403
    waived = await client.post(waive_url, json={"reason": "flat tyre"}, headers=staff.headers)
    assert waived.status_code == 200, waived.text
    assert (waived.json()["active"], waived.json()["waive_reason"]) == (False, "flat tyre")
    twice = await client.post(waive_url, json={"reason": "again"}, headers=staff.headers)
    assert twice.status_code == 409
    assert twice.json()["type"].endswith("/already-waived")
    audit = await rows(
        database,
        "SELECT action, actor_id FROM audit_records WHERE subject_id = :s",
        s=str(found[0].id),
    )
    assert [(row.action, row.actor_id) for row in audit] == [("penalty.waived", staff.id)]
    waived_events = await outbox_events(database, subject=past["id"], event_type=WAIVED)
    assert [(event.data["penalty_id"], event.actor) for event in waived_events] == [
        (str(found[0].id), staff.id)
    ]

    for event in (fresh, revived):
        assert (await sign_up(client, event, missing)).status_code == 201, "waived: no delay"
    mine = (await client.get("/v1/me/penalties", headers=missing.headers)).json()["items"]
    assert mine[0]["active"] is False
    assert mine[0]["waived_at"] is not None


async def test_the_rush_statement_skips_a_penalized_user_and_writes_nothing(
    client: httpx.AsyncClient, database: Database, staff: User, make_user: Callable[..., User]
) -> None:
    missing, other = make_user(), make_user()
    await no_show(client, database, staff, missing)
    event = await published_event(client, staff)
    placed = []
    for user in (missing, other):
        async with database.transaction() as session:
            principal = Principal(user_id=user.id, roles=frozenset({"fan"}))
            placed.append(
                await rush.try_alone(
                    session=session,
                    event_id=uuid.UUID(event["id"]),
                    principal=principal,
                    key=None,
                    now=utcnow(),
                )
            )
    assert placed[0] is None
    assert placed[1] is not None
    assert placed[1].user_id == other.id
    found = await rows(
        database, "SELECT user_id FROM signups WHERE event_id = :e", e=uuid.UUID(event["id"])
    )
    assert [row.user_id for row in found] == [other.id]
    confirmed = await scalar(
        database, "SELECT confirmed_count FROM events WHERE id = :e", e=uuid.UUID(event["id"])
    )
    assert confirmed == 1


async def test_two_no_shows_delay_until_the_later_ends_and_the_draw_sees_them(
    client: httpx.AsyncClient, database: Database, staff: User, make_user: Callable[..., User]
) -> None:
    twice, once, never = make_user(), make_user(), make_user()
    first = await no_show(client, database, staff, twice, once, ago=timedelta(days=3))
    second = await no_show(client, database, staff, twice)
    moment = utcnow()
    async with database.transaction() as session:
        assert await penalties.signup_delay(session=session, user_id=twice.id, now=moment) == (
            timedelta(seconds=600)
        )
        assert await penalties.signup_delay(session=session, user_id=never.id, now=moment) == (
            timedelta(0)
        )
        assert await penalties.penalized(
            session=session, user_ids=[twice.id, once.id, never.id], now=moment
        ) == {twice.id, once.id}
        ends = {
            row.ends_at for row in await penalties_of(database, first) if row.user_id == twice.id
        }
        later = (await penalties_of(database, second))[0].ends_at
        assert later > max(ends)
        # The first penalty over, the later one still delays.
        after_first = max(ends) + timedelta(seconds=1)
        assert await penalties.signup_delay(
            session=session, user_id=twice.id, now=after_first
        ) == timedelta(seconds=600)
        assert await penalties.signup_delay(
            session=session, user_id=twice.id, now=later
        ) == timedelta(0)


async def test_the_job_penalizes_events_nobody_completed_once_even_from_two_replicas(
    client: httpx.AsyncClient,
    database: Database,
    app: FastAPI,
    staff: User,
    make_user: Callable[..., User],
) -> None:
    policy: PenaltyPolicy = app.state.penalty_policy
    forgotten, recent = await published_event(client, staff), await published_event(client, staff)
    missing, attendee, late = make_user(), make_user(), make_user()
    assert (await sign_up(client, forgotten, missing)).status_code == 201
    assert (await sign_up(client, recent, late)).status_code == 201
    assert (await sign_up(client, recent, attendee)).status_code == 201
    await end_event(database, forgotten, policy.grace + timedelta(hours=1))
    await end_event(database, recent, policy.grace - timedelta(hours=1))

    async def run_job() -> int:
        async with database.transaction() as session:
            return await penalties.issue_due_penalties(session=session, now=utcnow(), policy=policy)

    await asyncio.gather(run_job(), run_job())
    await run_job()

    assert [row.user_id for row in await penalties_of(database, forgotten)] == [missing.id]
    assert await penalties_of(database, recent) == [], "still within the grace"
    issued = await outbox_events(database, subject=forgotten["id"], event_type=ISSUED)
    assert len(issued) == 1
    status = await scalar(
        database, "SELECT status FROM events WHERE id = :e", e=uuid.UUID(forgotten["id"])
    )
    assert status == "published", "the job only penalizes; completing stays the organizer's"


async def test_the_penalties_command_runs_the_job(
    client: httpx.AsyncClient,
    database: Database,
    events_url: str,
    staff: User,
    make_user: Callable[..., User],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    forgotten = await published_event(client, staff)
    missing = make_user()
    assert (await sign_up(client, forgotten, missing)).status_code == 201
    await end_event(database, forgotten, timedelta(hours=25))
    monkeypatch.setenv("EVENTS_DATABASE_URL", events_url)
    monkeypatch.setenv("EVENTS_QR_SECRET", QR_SECRET)

    await asyncio.to_thread(cli.main, ["penalties"])

    assert "no-show penalties issued" in capsys.readouterr().out
    assert [row.user_id for row in await penalties_of(database, forgotten)] == [missing.id]
