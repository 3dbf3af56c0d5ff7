"""Idempotent signups, draws, check-in, cancellation with refunds, completion, browsing
and the identity consumers, on PostgreSQL; plus the portable path on SQLite."""

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.catalog import EVENTS
from contracts.identity import UserDeleted, UserRoleChanged
from kit.bus.envelope import Envelope
from kit.db import Database
from kit.db.migrate import upgrade
from kit.testing.services import rows
from kit.testing.tokens import TokenMinter
from services.events.app import create_app
from services.events.config import EventsSettings
from services.events.consumers import on_role_changed, on_user_deleted
from services.events.service.draw import allocate, commitment
from services.events.tests.support import QR_SECRET, User, event_body, now, published_event


async def test_retries_return_the_same_signup(
    client: httpx.AsyncClient, staff: User, make_user: Callable[..., User]
) -> None:
    event = await published_event(client, staff)
    other = await published_event(client, staff)
    fan = make_user()
    url = f"/v1/events/{event['id']}/signups"
    headers = {**fan.headers, "Idempotency-Key": "tap-1"}
    first = await client.post(url, headers=headers)
    again = await client.post(url, headers=headers)
    plain = await client.post(url, headers=fan.headers)
    assert (first.status_code, again.status_code, plain.status_code) == (201, 200, 200)
    assert first.json()["id"] == again.json()["id"] == plain.json()["id"]
    reused = await client.post(f"/v1/events/{other['id']}/signups", headers=headers)
    assert reused.status_code == 422


@st.composite
def draws(
    draw: st.DrawFn,
) -> tuple[list[uuid.UUID], dict[uuid.UUID, Fraction], int, int, list[uuid.UUID]]:
    """Applicants, their weights, capacity, seed, and the applicants reordered."""
    applicants = draw(st.lists(st.uuids(), max_size=60, unique=True))
    weight = st.fractions(min_value=Fraction(1, 4), max_value=4).filter(lambda w: w > 0)
    weights = {signup: draw(weight) for signup in applicants}
    capacity = draw(st.integers(min_value=1, max_value=40))
    seed = draw(st.integers(min_value=0, max_value=2**63 - 1))
    return applicants, weights, capacity, seed, draw(st.permutations(applicants))


@settings(max_examples=200, deadline=None, derandomize=True)
@given(draws())
def test_draw_is_reproducible_and_never_exceeds_capacity(
    case: tuple[list[uuid.UUID], dict[uuid.UUID, Fraction], int, int, list[uuid.UUID]],
) -> None:
    applicants, weights, capacity, seed, reordered = case
    once = allocate(applicants, weights, seed=seed, capacity=capacity)
    assert allocate(reordered, weights, seed=seed, capacity=capacity) == once
    assert len(once.confirmed) == min(capacity, len(applicants))
    assert once.confirmed + once.waitlisted == once.order
    assert sorted(once.order) == sorted(applicants)


async def test_draw_allocates_once_and_is_auditable(
    client: httpx.AsyncClient, database: Database, staff: User, make_user: Callable[..., User]
) -> None:
    event = await published_event(client, staff, capacity=10, signup_mode="draw")
    applicants = [make_user() for _ in range(30)]
    applied = await asyncio.gather(
        *(client.post(f"/v1/events/{event['id']}/signups", headers=u.headers) for u in applicants)
    )
    assert {response.json()["status"] for response in applied} == {"applied"}
    early = await client.post(f"/v1/events/{event['id']}/draw", headers=staff.headers)
    assert early.status_code == 409
    await close_signups(client, staff, event["id"])
    ran = await client.post(f"/v1/events/{event['id']}/draw", headers=staff.headers)
    assert ran.status_code == 201, ran.text
    again = await client.post(f"/v1/events/{event['id']}/draw", headers=staff.headers)
    assert again.status_code == 409
    run = (await client.get(f"/v1/events/{event['id']}/draw")).json()
    assert run["seed_commitment"] == event["seed_commitment"] == commitment(run["seed"])
    recomputed = allocate(
        [uuid.UUID(a["signup_id"]) for a in run["applicants"]],
        {uuid.UUID(a["signup_id"]): Fraction(a["weight"]) for a in run["applicants"]},
        seed=run["seed"],
        capacity=10,
    )
    assert [str(s) for s in recomputed.order] == run["allocation"]
    found = await rows(
        database,
        "SELECT id, status, waitlist_position FROM signups WHERE event_id = :e",
        e=uuid.UUID(event["id"]),
    )
    confirmed = {str(row.id) for row in found if row.status == "confirmed"}
    assert confirmed == set(run["allocation"][:10])
    waitlist = [
        str(row.id)
        for row in sorted(found, key=lambda r: r.waitlist_position or 0)
        if row.status == "waitlisted"
    ]
    assert waitlist == run["allocation"][10:]


async def close_signups(client: httpx.AsyncClient, staff: User, event_id: str) -> None:
    closed = await client.patch(
        f"/v1/events/{event_id}",
        json={"closes_at": (now() - timedelta(seconds=1)).isoformat()},
        headers=staff.headers,
    )
    assert closed.status_code == 200, closed.text


async def test_check_in_once_then_harmless(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User]
) -> None:
    volunteer = make_user("volunteer", "owner")
    staff = make_user("staff")

    created = (await client.post("/v1/events", json=event_body(), headers=volunteer.headers)).json()
    await client.post(f"/v1/events/{created['id']}/submit", headers=volunteer.headers)
    await client.post(f"/v1/events/{created['id']}/approve", headers=staff.headers)
    fan = make_user()
    signup = (await client.post(f"/v1/events/{created['id']}/signups", headers=fan.headers)).json()
    qr = (await client.get(f"/v1/signups/{signup['id']}/qr", headers=fan.headers)).json()
    url = f"/v1/events/{created['id']}/checkins"
    first = await client.post(url, json={"token": qr["token"]}, headers=volunteer.headers)
    second = await client.post(url, json={"token": qr["token"]}, headers=volunteer.headers)
    assert first.json()["already_checked_in"] is False
    assert second.status_code == 200
    assert second.json()["already_checked_in"] is True
    assert await outbox_types(database, created["id"]) >= {"events.attendance.checked_in.v1"}


async def outbox_types(database: Database, event_id: str) -> set[str]:
    found = await rows(database, "SELECT type, data FROM outbox WHERE key = :k", k=event_id)
    for row in found:
        EVENTS[row.type].payload.model_validate(row.data)
    return {row.type for row in found}


async def test_cancelling_a_paid_event_releases_everyone_with_refunds(
    client: httpx.AsyncClient, database: Database, staff: User, make_user: Callable[..., User]
) -> None:
    event = await published_event(client, staff, capacity=2, points_fee=300)
    fans = [make_user() for _ in range(3)]
    for fan in fans:
        signed = await client.post(f"/v1/events/{event['id']}/signups", headers=fan.headers)
        assert signed.json()["fee_points"] == 300
    cancelled = await client.post(
        f"/v1/events/{event['id']}/cancel", json={"reason": "venue flooded"}, headers=staff.headers
    )
    assert cancelled.json()["status"] == "cancelled"
    statuses = await rows(
        database, "SELECT status FROM signups WHERE event_id = :e", e=uuid.UUID(event["id"])
    )
    assert {row.status for row in statuses} == {"cancelled"}
    found = await rows(
        database,
        "SELECT data FROM outbox WHERE key = :k AND type = 'events.event.cancelled.v1'",
        k=event["id"],
    )
    refunds = found[0].data["refunds"]
    assert sorted(r["user_id"] for r in refunds) == sorted(str(f.id) for f in fans[:2])
    assert {r["fee_points"] for r in refunds} == {300}
    assert await outbox_types(database, event["id"]) >= {
        "events.event.published.v1",
        "events.signup.confirmed.v1",
        "events.signup.waitlisted.v1",
        "events.event.cancelled.v1",
    }


async def test_browsing_pages_through_upcoming_events_soonest_first(
    client: httpx.AsyncClient, staff: User
) -> None:
    city = f"City-{uuid.uuid4().hex[:6]}"
    base = now().replace(microsecond=0) + timedelta(days=3)
    created = []
    for hours in (48, 0, 24, 0, 72, 24, 0):  # created out of order, with ties on starts_at
        starts = base + timedelta(hours=hours)
        schedule = {
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(hours=3)).isoformat(),
            "closes_at": (starts - timedelta(hours=1)).isoformat(),
        }
        created.append(await published_event(client, staff, city=city, capacity=1, **schedule))
    pages: list[list[dict[str, Any]]] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"city": city, "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/v1/events", params=params)).json()
        pages.append(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert len(pages) <= len(created), "the cursor never ran out"

    def position(event: dict[str, Any]) -> tuple[datetime, uuid.UUID]:
        return datetime.fromisoformat(event["starts_at"]), uuid.UUID(event["id"])

    seen = [item for page in pages for item in page]
    assert [len(page) for page in pages] == [2, 2, 2, 1]
    assert [item["id"] for item in seen] == [
        event["id"] for event in sorted(created, key=position)
    ], "not soonest first (ties by id) across pages, or a gap or a duplicate"
    assert [position(item) for item in seen] == sorted(position(item) for item in seen)
    assert (await client.get("/v1/events", params={"cursor": "garbage"})).status_code == 422


async def test_deleted_users_release_their_seats_and_roles_count_at_once(
    database: Database, client: httpx.AsyncClient, staff: User, make_user: Callable[..., User]
) -> None:
    event = await published_event(client, staff, capacity=1, eligibility="owners_only")
    leaving, waiting = make_user("owner"), make_user("fan")
    await client.post(f"/v1/events/{event['id']}/signups", headers=leaving.headers)
    changed = UserRoleChanged(
        user_id=waiting.id, roles=["fan", "owner"], granted=["owner"], revoked=[]
    )
    async with database.transaction() as session:
        await on_role_changed(session, changed, envelope(changed.user_id))
    queued = await client.post(f"/v1/events/{event['id']}/signups", headers=waiting.headers)
    assert queued.json()["status"] == "waitlisted", "the freshly granted owner role counted"
    deleted = UserDeleted(user_id=leaving.id, deleted_at=datetime.now(UTC))
    async with database.transaction() as session:
        await on_user_deleted(session, deleted, envelope(deleted.user_id))
    promoted = await client.get(f"/v1/signups/{queued.json()['id']}", headers=waiting.headers)
    assert promoted.json()["status"] == "confirmed"


def envelope(user_id: uuid.UUID) -> Envelope:
    return Envelope(type="test", source="identity", subject=str(user_id), data={})


async def test_portable_path_on_sqlite(tmp_path: Path, minter: TokenMinter) -> None:
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
        event = await published_event(client, staff, capacity=1)
        first, second = (User(uuid.uuid4(), minter.headers()) for _ in range(2))
        url_ = f"/v1/events/{event['id']}/signups"
        seat = (await client.post(url_, headers=first.headers)).json()
        queued = (await client.post(url_, headers=second.headers)).json()
        assert (seat["status"], queued["status"], queued["waitlist_position"]) == (
            "confirmed",
            "waitlisted",
            1,
        )
        await client.delete(f"/v1/signups/{seat['id']}", headers=first.headers)
        again = (await client.post(url_, headers=first.headers)).json()
        assert again["id"] == seat["id"]
        assert again["status"] == "waitlisted"
        promoted = (await client.get(f"/v1/signups/{queued['id']}", headers=second.headers)).json()
        assert promoted["status"] == "confirmed"
        page = (await client.get(f"/v1/events/{event['id']}", headers=first.headers)).json()
        assert (page["seats_left"], page["my_signup"]["status"]) == (0, "waitlisted")
        assert page["my_signup"]["waitlist_position"] == again["waitlist_position"]
        anonymous = (await client.get(f"/v1/events/{event['id']}")).json()
        assert anonymous["my_signup"] is None
