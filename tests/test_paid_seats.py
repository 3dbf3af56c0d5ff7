"""The paid-seat saga end to end, with events and rewards as real processes on PostgreSQL
and Kafka: events confirms seats at once and rewards charges their fees from
``signup.confirmed`` / ``signup.promoted``; a member short of points is released by events
(``payment_failed``) when rewards answers ``charged=false``, and the freed seat goes to the
head of the waitlist, who is charged in turn; a cancelled seat and a cancelled event are
refunded once, and only what was charged.

Both processes run under service names unique to the test, so their consumer groups are
their own on the session's shared broker. The members' points are credited through
rewards' ledger (``ledger.credit_points``) in rewards' database before they sign up.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from kit.db import Database, utcnow
from kit.testing.plugin import MigratedDatabaseFactory
from kit.testing.servers import serving
from kit.testing.services import rows, scalar
from kit.testing.tokens import TokenMinter
from kit.testing.waiting import eventually
from services.events.tests.support import QR_SECRET, event_body
from services.rewards.service import ledger
from services.rewards.service.ledger import Source
from services.rewards.tests.support import assert_ledger_adds_up
from tests.processes import ServiceProcess

STARTUP_SECONDS = 120
SAGA_SECONDS = 90
FEE = 50


@pytest.fixture
async def events_database(migrated_database_factory: MigratedDatabaseFactory) -> str:
    return await migrated_database_factory("events")


@pytest.fixture
async def rewards_db(migrated_database_factory: MigratedDatabaseFactory) -> AsyncIterator[Database]:
    database = Database(await migrated_database_factory("rewards"), service="rewards")
    yield database
    await database.dispose()


@pytest.fixture
async def events_db(events_database: str) -> AsyncIterator[Database]:
    database = Database(events_database, service="events")
    yield database
    await database.dispose()


@pytest.fixture
async def jwks_url(minter: TokenMinter) -> AsyncIterator[str]:
    async def jwks(_: object) -> JSONResponse:
        return JSONResponse(minter.jwks)

    async with serving(Starlette(routes=[Route("/jwks.json", jwks)])) as url:
        yield f"{url}/jwks.json"


@pytest.fixture
async def events_url(
    events_database: str,
    rewards_db: Database,
    kafka_bootstrap: str,
    jwks_url: str,
    tmp_path: Path,
) -> AsyncIterator[str]:
    """events and rewards, both with the bus on; yields events' URL."""
    run = uuid.uuid4().hex[:8]
    shared = {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "PADDOCK_JWKS_URL": jwks_url}
    events = ServiceProcess(
        "services.events.app:create_app",
        {
            **shared,
            "EVENTS_SERVICE_NAME": f"events-{run}",
            "EVENTS_DATABASE_URL": events_database,
            "EVENTS_QR_SECRET": QR_SECRET,
        },
        tmp_path / "events.log",
    )
    rewards = ServiceProcess(
        "services.rewards.app:create_app",
        {
            **shared,
            "REWARDS_SERVICE_NAME": f"rewards-{run}",
            "REWARDS_DATABASE_URL": rewards_db.engine.url.render_as_string(hide_password=False),
        },
        tmp_path / "rewards.log",
    )
    try:
        await asyncio.gather(
            asyncio.to_thread(events.start, STARTUP_SECONDS),
            asyncio.to_thread(rewards.start, STARTUP_SECONDS),
        )
        yield events.url
    finally:
        await asyncio.to_thread(rewards.stop)
        await asyncio.to_thread(events.stop)


async def give(database: Database, user_id: uuid.UUID, points: int) -> None:
    async with database.transaction() as session:
        await ledger.credit_points(
            session=session,
            user_id=user_id,
            amount=points,
            source=Source("test.grant", str(uuid.uuid4())),
            at=utcnow(),
        )


async def sign_up(client: httpx.AsyncClient, event_id: str, headers: dict[str, str]) -> Any:
    response = await client.post(f"/v1/events/{event_id}/signups", headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def test_the_paid_seat_saga(
    events_url: str, rewards_db: Database, events_db: Database, minter: TokenMinter
) -> None:
    staff = minter.headers(uuid.uuid4(), ("staff",))
    rich, poor, waiting = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await give(rewards_db, rich, 100)
    await give(rewards_db, poor, 10)
    await give(rewards_db, waiting, 100)
    async with httpx.AsyncClient(base_url=events_url, timeout=30) as client:
        created = await client.post(
            "/v1/events", json=event_body(capacity=2, points_fee=FEE), headers=staff
        )
        assert created.status_code == 201, created.text
        event_id = created.json()["id"]
        published = await client.post(f"/v1/events/{event_id}/publish", headers=staff)
        assert published.status_code == 200, published.text
        members = {user: minter.headers(user, ("fan",)) for user in (rich, poor, waiting)}
        seats = {user: await sign_up(client, event_id, members[user]) for user in members}
        assert [seats[user]["status"] for user in (rich, poor, waiting)] == [
            "confirmed",
            "confirmed",
            "waitlisted",
        ]

        async def status(user: uuid.UUID) -> str:
            signup = f"/v1/signups/{seats[user]['id']}"
            found = await client.get(signup, headers=members[user])
            assert found.status_code == 200, found.text
            return str(found.json()["status"])

        async def charges() -> dict[uuid.UUID, str]:
            found = await rows(rewards_db, "SELECT user_id, status FROM signup_charges")
            return {row.user_id: row.status for row in found if row.user_id in members}

        async def saga_done() -> bool:
            moved = [await status(user) for user in (rich, poor, waiting)]
            return moved == ["confirmed", "cancelled", "confirmed"] and await charges() == {
                rich: "charged",
                poor: "refused",
                waiting: "charged",
            }

        await eventually(saga_done, timeout=SAGA_SECONDS, message="the saga never settled")
        released = await rows(
            events_db,
            "SELECT data FROM outbox WHERE type = 'events.signup.cancelled.v1' AND key = :e",
            e=event_id,
        )
        assert [(r.data["user_id"], r.data["reason"], r.data["refund_due"]) for r in released] == [
            (str(poor), "payment_failed", 0)
        ]
        assert await points(rewards_db, rich) == 50
        assert await points(rewards_db, poor) == 10
        assert await points(rewards_db, waiting) == 50

        cancelled = await client.post(
            f"/v1/signups/{seats[waiting]['id']}/cancel", headers=members[waiting]
        )
        assert cancelled.status_code == 200, cancelled.text
        await eventually(
            lambda: refunded(rewards_db, waiting), timeout=SAGA_SECONDS, message="no refund"
        )
        gone = await client.post(
            f"/v1/events/{event_id}/cancel", json={"reason": "rain"}, headers=staff
        )
        assert gone.status_code == 200, gone.text
        await eventually(
            lambda: refunded(rewards_db, rich), timeout=SAGA_SECONDS, message="no refund"
        )

    assert await points(rewards_db, rich) == 100
    assert await points(rewards_db, waiting) == 100
    kinds = "SELECT string_agg(kind, ',' ORDER BY kind) FROM ledger_entries WHERE user_id = :u"
    for user in (rich, waiting):
        assert await scalar(rewards_db, kinds, u=user) == "earn,refund,spend"
    assert await scalar(rewards_db, kinds, u=poor) == "earn"
    for user in (rich, poor, waiting):
        await assert_ledger_adds_up(rewards_db, user)


async def points(database: Database, user_id: uuid.UUID) -> int:
    return int(await scalar(database, "SELECT points FROM accounts WHERE user_id = :u", u=user_id))


async def refunded(database: Database, user_id: uuid.UUID) -> bool:
    sql = "SELECT status FROM signup_charges WHERE user_id = :u"
    return bool(await scalar(database, sql, u=user_id) == "refunded")
