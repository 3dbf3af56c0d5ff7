"""The queue in arrival order on PostgreSQL: tickets issued at once, answered by the
allocator strictly in ticket order (seat, waitlist place or sold out), retries keeping their
ticket, the allocator's statement agreeing with its Python reference, two allocators at
once, and the rush of 2,000 users through pools opening in waves."""

import asyncio
import random
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from contracts.events import SignupConfirmed, SignupWaitlisted
from kit.db import Database
from kit.db.migrate import upgrade
from kit.testing.services import outbox_events, rows, scalar
from kit.testing.tokens import TokenMinter
from services.events.app import create_app
from services.events.config import EventsSettings
from services.events.service.allocator import Allocator, decide
from services.events.tests.queue_support import answer, code, pool, queue_event, take_ticket
from services.events.tests.support import QR_SECRET, User, now, published_event


async def test_tickets_are_answered_in_order(
    client: httpx.AsyncClient, database: Database, staff: User, make_user: Callable[..., User]
) -> None:
    # promotion straight from the waitlist (offers, the queue's default, are in
    # test_queue_offers.py)
    event = await queue_event(
        client, staff, capacity=2, waitlist_limit=1, points_fee=5, waitlist_offers=False
    )
    assert [p["name"] for p in event["pools"]] == ["everyone"]
    assert event["queue"] == {"length": 0, "serving": 0, "next_wave_at": None}
    crowd = [make_user() for _ in range(4)]
    issued = []
    for user in crowd:
        response = await take_ticket(client, event["id"], user)
        assert response.status_code == 201, response.text
        assert response.headers["location"] == f"/v1/tickets/{response.json()['id']}"
        issued.append(response.json())
    assert [ticket["number"] for ticket in issued] == [1, 2, 3, 4]
    again = await take_ticket(client, event["id"], crowd[0], device="tablet")
    assert again.status_code == 200
    assert again.json()["id"] == issued[0]["id"]

    answers = [await answer(client, t["id"], u) for t, u in zip(issued, crowd, strict=True)]
    assert [a["state"] for a in answers] == ["confirmed", "confirmed", "waitlisted", "sold_out"]
    assert [a["waitlist_position"] for a in answers] == [None, None, 1, None]
    assert answers[3]["signup_id"] is None
    assert all(a["ahead"] == 0 for a in answers)
    assert all(a["answered_at"] for a in answers)

    page = await client.get(f"/v1/events/{event['id']}", headers=crowd[2].headers)
    assert page.status_code == 200
    body = page.json()
    assert body["queue"] == {"length": 0, "serving": 4, "next_wave_at": None}
    assert body["pools"][0]["taken"] == 2
    assert body["pools"][0]["seats_left"] == 0
    assert body["my_ticket"] == {"id": issued[2]["id"], "number": 3, "state": "waitlisted"}
    assert body["my_signup"]["status"] == "waitlisted"
    assert body["confirmed_count"] == 2

    # the allocator's signups are ordinary ones: read, cancel (the waitlist head moves up)
    seat = await client.get(f"/v1/signups/{answers[0]['signup_id']}", headers=crowd[0].headers)
    assert seat.json()["status"] == "confirmed"
    assert seat.json()["fee_points"] == 5
    cancelled = await client.delete(
        f"/v1/signups/{answers[0]['signup_id']}", headers=crowd[0].headers
    )
    assert cancelled.status_code == 200, cancelled.text
    promoted = await client.get(f"/v1/signups/{answers[2]['signup_id']}", headers=crowd[2].headers)
    assert promoted.json()["status"] == "confirmed"
    mine = await client.get("/v1/me/signups", headers=crowd[1].headers)
    assert [s["id"] for s in mine.json()["items"]] == [answers[1]["signup_id"]]

    staged = await outbox_events(database, subject=event["id"])
    confirmed = [e.data for e in staged if e.type == SignupConfirmed.event_type]
    waitlisted = [e.data for e in staged if e.type == SignupWaitlisted.event_type]
    assert [SignupConfirmed.model_validate(d).via for d in confirmed] == ["queue", "queue"]
    assert {SignupConfirmed.model_validate(d).fee_points for d in confirmed} == {5}
    assert [SignupWaitlisted.model_validate(d).position for d in waitlisted] == [1]
    assert {e.actor for e in staged if e.type == SignupConfirmed.event_type} == {
        crowd[0].id,
        crowd[1].id,
    }


async def test_a_queue_event_takes_no_direct_signups(
    client: httpx.AsyncClient, database: Database, staff: User, make_user: Callable[..., User]
) -> None:
    event = await queue_event(client, staff)
    response = await client.post(f"/v1/events/{event['id']}/signups", headers=make_user().headers)
    assert response.status_code == 409
    assert code(response) == "queue-required"
    assert response.json()["tickets"] == f"/v1/events/{event['id']}/tickets"
    count = "SELECT count(*) FROM signups WHERE event_id = :e"
    assert await scalar(database, count, e=uuid.UUID(event["id"])) == 0


async def test_bad_ticket_requests_write_nothing(
    client: httpx.AsyncClient, database: Database, staff: User, make_user: Callable[..., User]
) -> None:
    before = await scalar(database, "SELECT count(*) FROM queue_tickets")
    plain = await published_event(client, staff)
    refused = await take_ticket(client, plain["id"], make_user())
    assert refused.status_code == 409
    assert code(refused) == "not-a-queue"
    unknown = await take_ticket(client, str(uuid.uuid4()), make_user())
    assert unknown.status_code == 404
    garbage = await client.post("/v1/events/not-a-uuid/tickets", headers=make_user().headers)
    assert garbage.status_code == 422
    assert await scalar(database, "SELECT count(*) FROM queue_tickets") == before

    event = await queue_event(client, staff)
    owner, other = make_user(), make_user()
    ticket = (await take_ticket(client, event["id"], owner)).json()
    theirs = await client.get(f"/v1/tickets/{ticket['id']}", headers=other.headers)
    assert theirs.status_code == 404
    missing = await client.get(f"/v1/tickets/{uuid.uuid4()}", headers=other.headers)
    assert missing.status_code == 404
    too_long = await client.get(
        f"/v1/tickets/{ticket['id']}", params={"wait": 31}, headers=owner.headers
    )
    assert too_long.status_code == 422
    by_staff = await client.get(f"/v1/tickets/{ticket['id']}", headers=staff.headers)
    assert by_staff.status_code == 200
    anonymous = await client.post(f"/v1/events/{event['id']}/tickets")
    assert anonymous.status_code == 401


async def test_the_statement_agrees_with_its_reference(
    client: httpx.AsyncClient, database: Database, staff: User, make_user: Callable[..., User]
) -> None:
    """What ALLOCATE decided for a mixed crowd is what :func:`decide` decides."""
    sizes = {"owners": 2, "fans": 3}
    event = await queue_event(
        client,
        staff,
        waitlist_limit=3,
        pools=[pool("owners", 2, audience="owners"), pool("fans", 3, audience="fans")],
    )
    crowd = [make_user("owner") if i % 3 == 0 else make_user() for i in range(14)]
    responses = await asyncio.gather(*(take_ticket(client, event["id"], u) for u in crowd))
    assert {r.status_code for r in responses} == {201}
    for response, user in zip(responses, crowd, strict=True):
        await answer(client, response.json()["id"], user)

    found = await rows(
        database,
        "SELECT t.id, t.number, t.state, t.waitlist_position, p.id AS pool_id, p.name "
        "FROM queue_tickets t JOIN event_pools p ON p.id = t.pool_id "
        "WHERE t.event_id = :e ORDER BY t.number",
        e=uuid.UUID(event["id"]),
    )
    pool_ids = {row.name: row.pool_id for row in found}
    expected = decide(
        [(row.id, row.pool_id) for row in found],
        free={pool_ids[name]: size for name, size in sizes.items()},
        waitlist_next=0,
        waitlist_limit=3,
    )
    assert [(d.state, d.position) for d in expected] == [
        (row.state, row.waitlist_position) for row in found
    ]
    assert {row.state for row in found} == {"confirmed", "waitlisted", "sold_out"}


async def test_two_allocators_at_once_keep_the_order(
    client: httpx.AsyncClient,
    app: FastAPI,
    staff: User,
    make_user: Callable[..., User],
) -> None:
    """Two allocators on the same database, racing all along (the app's own is paused, so
    that these two do all the work)."""
    url = app.state.database.url
    event = await queue_event(
        client,
        staff,
        waitlist_limit=30,
        pools=[pool("a", 12, audience="owners"), pool("b", 13, audience="fans")],
    )
    settings = EventsSettings(
        database_url=url, bus_enabled=False, qr_secret=QR_SECRET, allocator_batch=7
    )
    extra = [Database(url, service="events", pool_size=4) for _ in range(2)]
    allocators = [Allocator(database=db, settings=settings) for db in extra]
    stop = asyncio.Event()
    answered_by_extra = [0]

    async def race(allocator: Allocator) -> None:
        while not stop.is_set():
            answered = await allocator.run_round()
            answered_by_extra[0] += answered
            await asyncio.sleep(0)

    crowd = [make_user("owner") if i % 2 else make_user() for i in range(120)]
    own = next(c for c in app.state.components if isinstance(c, Allocator))
    await own.stop()
    racing = [asyncio.create_task(race(allocator)) for allocator in allocators]
    try:
        responses = await asyncio.gather(*(take_ticket(client, event["id"], u) for u in crowd))
        assert {r.status_code for r in responses} == {201}
        answers = await asyncio.gather(
            *(answer(client, r.json()["id"], u) for r, u in zip(responses, crowd, strict=True))
        )
    finally:
        stop.set()
        await asyncio.gather(*racing)
        await own.start()
        for db in extra:
            await db.dispose()
    assert answered_by_extra[0] == len(crowd)
    assert_in_ticket_order(answers, {"a": 12, "b": 13}, waitlist_limit=30)
    database = app.state.database
    assert await scalar(
        database, "SELECT confirmed_count FROM events WHERE id = :e", e=uuid.UUID(event["id"])
    ) == sum(a["state"] == "confirmed" for a in answers)


def assert_in_ticket_order(
    answers: list[dict[str, Any]], sizes: dict[str, int], *, waitlist_limit: int | None
) -> None:
    """Within each pool seats went to the lowest numbers; the waitlist is in ticket order
    across pools, 1, 2, ...; sold out comes after every waitlist place."""
    assert all(a["state"] in {"confirmed", "waitlisted", "sold_out"} for a in answers)
    for name, size in sizes.items():
        mine = [a for a in answers if a["pool"]["name"] == name]
        seated = [a["number"] for a in mine if a["state"] == "confirmed"]
        others = [a["number"] for a in mine if a["state"] != "confirmed"]
        assert len(seated) <= size, f"pool {name} oversold"
        if others:
            assert max(seated, default=0) < min(others), f"pool {name} out of ticket order"
            assert len(seated) == size, f"pool {name} left a seat while people wait"
    waiting = sorted(
        (a["number"], a["waitlist_position"]) for a in answers if a["state"] == "waitlisted"
    )
    assert [position for _, position in waiting] == list(range(1, len(waiting) + 1))
    sold_out = [a["number"] for a in answers if a["state"] == "sold_out"]
    if sold_out:
        assert len(waiting) == waitlist_limit
        assert max(number for number, _ in waiting) < min(sold_out)


RUSH_SEED = 20_261_202  # fixes who presses twice and the press order
RUSH_USERS = 2000
RUSH_SIZES = {"owners": 40, "club": 50, "fans": 60}
RUSH_WAITLIST = 900
WAVE_SECONDS = 4


async def test_the_rush_through_the_queue(
    client: httpx.AsyncClient, database: Database, minter: TokenMinter, staff: User
) -> None:
    """2,000 users at once, a quarter of them from two devices at the same moment and once
    more later; three pools opening in waves. Every ticket is answered, strictly in ticket
    order within each pool, no pool over its size, nobody with two tickets or seats."""
    # The crowd's tokens first (minting 2,000 takes seconds on a busy machine): the waves
    # are timed from the event's creation.
    crowd: list[tuple[User, str]] = []
    for index in range(RUSH_USERS):
        kind = "owners" if index % 4 == 0 else "club" if index % 4 == 1 else "fans"
        roles = {"owners": ("owner",), "club": ("fan", "club"), "fans": ("fan",)}[kind]
        user_id = uuid.uuid4()
        crowd.append((User(user_id, minter.headers(user_id, roles)), kind))
    random.Random(RUSH_SEED).shuffle(crowd)
    twice = {user.id for user, _ in crowd[: RUSH_USERS // 4]}
    start = now()
    opens = {
        "owners": start - timedelta(seconds=1),
        "club": start + timedelta(seconds=WAVE_SECONDS),
        "fans": start + timedelta(seconds=2 * WAVE_SECONDS),
    }
    audiences = {"owners": "owners", "club": "club_members", "fans": "fans"}
    event = await queue_event(
        client,
        staff,
        waitlist_limit=RUSH_WAITLIST,
        pools=[
            pool(name, size, audience=audiences[name], opens_at=opens[name])
            for name, size in RUSH_SIZES.items()
        ],
    )
    probe = next(user for user, kind in crowd if kind == "fans")
    early = await take_ticket(client, event["id"], probe)
    assert early.status_code == 409, early.text
    assert early.json()["opens_at"] == opens["fans"].isoformat()

    async def press(user: User) -> list[httpx.Response]:
        if user.id not in twice:
            return [await take_ticket(client, event["id"], user)]
        return list(
            await asyncio.gather(
                take_ticket(client, event["id"], user, device="phone"),
                take_ticket(client, event["id"], user, device="tablet"),
            )
        )

    tickets: dict[uuid.UUID, str] = {}
    created = 0
    for wave in ("owners", "club", "fans"):
        await asyncio.sleep(max((opens[wave] - now()).total_seconds() + 0.2, 0))
        waiting = [(user, kind) for user, kind in crowd if user.id not in tickets]
        pressed = await asyncio.gather(*(press(user) for user, _ in waiting))
        for (user, kind), responses in zip(waiting, pressed, strict=True):
            for response in responses:
                if response.status_code == 409:
                    assert code(response) == "signups-not-open", response.text
                    assert response.json()["opens_at"] == opens[kind].isoformat()
                    continue
                assert response.status_code in (200, 201), response.text
                created += response.status_code == 201
                ticket_id = response.json()["id"]
                assert tickets.setdefault(user.id, ticket_id) == ticket_id, "two tickets"
                assert response.json()["pool"]["name"] == kind
        assert all(user.id in tickets for user, kind in crowd if kind == wave)
    assert created == RUSH_USERS, "a press beyond the first made a ticket"

    retried = await asyncio.gather(
        *(take_ticket(client, event["id"], user) for user, _ in crowd if user.id in twice)
    )
    assert {response.status_code for response in retried} == {200}
    by_user = {user.id: user for user, _ in crowd}
    for response, user_id in zip(retried, [u.id for u, _ in crowd if u.id in twice], strict=True):
        assert response.json()["id"] == tickets[user_id], "a retry got another ticket"

    answers = await asyncio.gather(
        *(answer(client, ticket_id, by_user[user_id]) for user_id, ticket_id in tickets.items())
    )
    assert_in_ticket_order(answers, RUSH_SIZES, waitlist_limit=RUSH_WAITLIST)
    assert sorted(a["number"] for a in answers)[-1] >= RUSH_USERS
    e = uuid.UUID(event["id"])
    pools_now = await rows(
        database, "SELECT name, size, taken FROM event_pools WHERE event_id = :e", e=e
    )
    assert {row.name: (row.size, row.taken) for row in pools_now} == {
        name: (size, size) for name, size in RUSH_SIZES.items()
    }
    assert await scalar(database, "SELECT confirmed_count FROM events WHERE id = :e", e=e) == 150
    signup_rows = await rows(
        database, "SELECT user_id, status FROM signups WHERE event_id = :e", e=e
    )
    assert len(signup_rows) == len({row.user_id for row in signup_rows}) == 150 + RUSH_WAITLIST
    assert sum(row.status == "confirmed" for row in signup_rows) == 150
    assert (
        await scalar(database, "SELECT count(*) FROM queue_tickets WHERE event_id = :e", e=e)
        == RUSH_USERS
    )
    staged = await outbox_events(database, subject=event["id"])
    confirmed = [
        SignupConfirmed.model_validate(s.data)
        for s in staged
        if s.type == SignupConfirmed.event_type
    ]
    waitlisted = [
        SignupWaitlisted.model_validate(s.data)
        for s in staged
        if s.type == SignupWaitlisted.event_type
    ]
    assert len(confirmed) == 150
    assert {payload.via for payload in confirmed} == {"queue"}
    assert sorted(payload.position for payload in waitlisted) == list(range(1, RUSH_WAITLIST + 1))


async def test_the_portable_path_on_sqlite(tmp_path: Path, minter: TokenMinter) -> None:
    """``make run``'s SQLite: numbers by max + 1, the same answers by :func:`decide`."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'events.db'}"
    await asyncio.to_thread(upgrade, "events", url)
    settings = EventsSettings(database_url=url, bus_enabled=False, qr_secret=QR_SECRET)
    app = create_app(settings, token_verifier=minter.verifier())
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://events"
        ) as client,
    ):
        staff = User(uuid.uuid4(), minter.headers(roles=("staff",)))
        event = await queue_event(
            client,
            staff,
            waitlist_limit=2,
            pools=[pool("owners", 1, audience="owners"), pool("fans", 2, audience="fans")],
        )
        crowd = [
            User(user_id, minter.headers(user_id, ("owner",) if i % 2 else ("fan",)))
            for i, user_id in enumerate(uuid.uuid4() for _ in range(7))
        ]
        issued = [(await take_ticket(client, event["id"], user)).json() for user in crowd]
        assert [ticket["number"] for ticket in issued] == list(range(1, 8))
        both = await asyncio.gather(
            take_ticket(client, event["id"], crowd[0], device="phone"),
            take_ticket(client, event["id"], crowd[0], device="tablet"),
        )
        assert {response.json()["id"] for response in both} == {issued[0]["id"]}
        answers = [await answer(client, t["id"], u) for t, u in zip(issued, crowd, strict=True)]
        # fans 1, 3, 5, 7 and owners 2, 4, 6: fans' two seats to 1 and 3, the owners' one
        # seat to 2, then the waitlist in ticket order (4, 5) and sold out (6, 7)
        assert [(a["state"], a["waitlist_position"]) for a in answers] == [
            ("confirmed", None),
            ("confirmed", None),
            ("confirmed", None),
            ("waitlisted", 1),
            ("waitlisted", 2),
            ("sold_out", None),
            ("sold_out", None),
        ]
        page = (await client.get(f"/v1/events/{event['id']}", headers=crowd[3].headers)).json()
        assert page["confirmed_count"] == 3
        assert page["my_ticket"]["state"] == "waitlisted"
        assert page["my_signup"]["waitlist_position"] == 1


async def test_the_queue_shows_in_metrics_and_readiness(client: httpx.AsyncClient) -> None:
    metrics = (await client.get("/metrics")).text
    assert "paddock_events_queue_depth" in metrics
    assert "paddock_events_queue_answered_total" in metrics
    assert "paddock_events_queue_batch_seconds" in metrics
    ready = await client.get("/readyz")
    assert "queue-allocator" in ready.text, ready.text
