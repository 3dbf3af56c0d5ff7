"""Expiry on PostgreSQL: what is left of a lot past its expiry expires once (two job runs
at once included), the jobs run in batches until nothing is due, and a member reads what
expires when."""

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import httpx

from kit.db import Database
from kit.testing.services import rows, scalar
from services.rewards.config import RewardsSettings
from services.rewards.service import jobs, ledger, rules
from services.rewards.service.ledger import Source
from services.rewards.tests.support import User, assert_ledger_adds_up

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


async def credit(
    database: Database,
    user: uuid.UUID,
    amount: int,
    at: datetime,
    activates_at: datetime | None = None,
) -> None:
    async with database.transaction() as session:
        await ledger.credit_points(
            session=session,
            user_id=user,
            amount=amount,
            source=Source(type="test.earned.v1", id=str(uuid.uuid4())),
            at=at,
            activates_at=activates_at,
        )


async def spend(database: Database, user: uuid.UUID, amount: int, at: datetime) -> None:
    async with database.transaction() as session:
        await ledger.spend_points(
            session=session,
            user_id=user,
            amount=amount,
            source=Source(type="mall.order", id=str(uuid.uuid4())),
            at=at,
        )


async def expired_entries(database: Database, user: uuid.UUID) -> list[int]:
    found = await rows(
        database,
        "SELECT e.amount FROM ledger_entries e JOIN point_lots l ON e.source_id = l.id::text"
        " WHERE e.user_id = :u AND e.kind = 'expire' AND e.source_type = 'rewards.expiry'"
        " ORDER BY l.expires_at",
        u=user,
    )
    return [row.amount for row in found]


async def points_of(database: Database, user: uuid.UUID) -> int:
    points: int = await scalar(database, "SELECT points FROM accounts WHERE user_id = :u", u=user)
    return points


async def expire(database: Database, now: datetime) -> int:
    async with database.transaction() as session:
        return await jobs.expire_due(session=session, now=now, limit=1000)


async def test_what_is_left_of_an_expired_lot_expires_once(database: Database) -> None:
    user = uuid.uuid4()
    await credit(database, user, 100, datetime(2023, 3, 1, tzinfo=UTC))
    await credit(database, user, 50, datetime(2024, 3, 1, tzinfo=UTC))
    await spend(database, user, 30, datetime(2024, 5, 1, tzinfo=UTC))
    await expire(database, datetime(2025, 12, 31, tzinfo=UTC))
    assert await expired_entries(database, user) == []
    for _ in range(2):
        await expire(database, NOW)
    assert await expired_entries(database, user) == [-70]
    assert await points_of(database, user) == 50
    assert (
        await scalar(
            database,
            "SELECT count(*) FROM point_lots WHERE user_id = :u AND state = 'expired'",
            u=user,
        )
        == 1
    )
    await assert_ledger_adds_up(database, user)


async def test_a_reversal_after_expiry_takes_back_only_what_did_not_expire(
    database: Database,
) -> None:
    user, post, spared = uuid.uuid4(), str(uuid.uuid4()), str(uuid.uuid4())
    for reference, amount in ((post, 100), (spared, 20)):
        async with database.transaction() as session:
            await ledger.credit_points(
                session=session,
                user_id=user,
                amount=amount,
                source=Source(
                    type="test.earned.v1",
                    id=str(uuid.uuid4()),
                    reference_type="post",
                    reference_id=reference,
                ),
                at=datetime(2023, 3, 1, tzinfo=UTC),
            )
    await spend(database, user, 90, datetime(2024, 5, 1, tzinfo=UTC))
    await credit(database, user, 50, datetime(2025, 3, 1, tzinfo=UTC))
    await expire(database, NOW)
    assert sorted(await expired_entries(database, user)) == [-20, -10]
    for reference in (post, spared):
        async with database.transaction() as session:
            await rules.reverse_reference(
                session=session,
                reference_type="post",
                reference_id=reference,
                source_type="content.post.removed.v1",
                source_id=str(uuid.uuid4()),
                at=NOW,
            )
    reversals = await rows(
        database,
        "SELECT amount, debt_added FROM ledger_entries WHERE user_id = :u AND kind = 'reverse'",
        u=user,
    )
    assert [(row.amount, row.debt_added) for row in reversals] == [(-90, 40)]
    assert await points_of(database, user) == 0
    assert await scalar(database, "SELECT debt FROM accounts WHERE user_id = :u", u=user) == 40
    await assert_ledger_adds_up(database, user)


async def test_two_runs_at_once_expire_each_lot_once(database: Database) -> None:
    users = [uuid.uuid4() for _ in range(5)]
    for user in users:
        for year in (2022, 2023):
            for amount in (10, 20):
                await credit(database, user, amount, datetime(year, 6, 1, tzinfo=UTC))
    await asyncio.gather(*(expire(database, NOW) for _ in range(2)))
    for user in users:
        assert sorted(await expired_entries(database, user)) == [-20, -20, -10, -10]
        assert await points_of(database, user) == 0
        await assert_ledger_adds_up(database, user)


async def test_the_jobs_activate_and_expire_in_batches_until_none_are_due(
    database: Database, rewards_url: str
) -> None:
    user = uuid.uuid4()
    for _ in range(5):
        await credit(database, user, 10, datetime(2022, 1, 1, tzinfo=UTC))
    for _ in range(3):
        await credit(
            database,
            user,
            4,
            datetime(2026, 2, 1, tzinfo=UTC),
            activates_at=datetime(2026, 2, 15, tzinfo=UTC),
        )
    settings = RewardsSettings(database_url=rewards_url, bus_enabled=False, job_batch_size=2)
    done = await jobs.run(settings, now=datetime(2026, 3, 1, tzinfo=UTC))
    assert done.activated >= 3
    assert done.expired >= 5
    assert await expired_entries(database, user) == [-10] * 5
    assert await points_of(database, user) == 12
    assert (
        await scalar(database, "SELECT pending_points FROM accounts WHERE user_id = :u", u=user)
        == 0
    )
    await assert_ledger_adds_up(database, user)


async def test_a_member_reads_what_expires_when_soonest_first(
    database: Database, client: httpx.AsyncClient, make_user: Callable[..., User]
) -> None:
    member = make_user("fan")
    await credit(database, member.id, 40, datetime(2025, 2, 1, tzinfo=UTC))
    await credit(database, member.id, 30, datetime(2024, 2, 1, tzinfo=UTC))
    await credit(database, member.id, 20, datetime(2025, 9, 1, tzinfo=UTC))
    await credit(
        database,
        member.id,
        99,
        datetime(2026, 11, 1, tzinfo=UTC),
        activates_at=datetime(2099, 1, 1, tzinfo=UTC),
    )
    await spend(database, member.id, 10, datetime(2025, 10, 1, tzinfo=UTC))
    answer = await client.get("/v1/me/expiring", headers=member.headers)
    assert answer.status_code == 200
    assert answer.json()["items"] == [
        {"expires_at": "2027-01-01T00:00:00Z", "points": 20},
        {"expires_at": "2028-01-01T00:00:00Z", "points": 60},
    ]
    stranger = make_user("fan")
    assert (await client.get("/v1/me/expiring", headers=stranger.headers)).json()["items"] == []
    assert (await client.get("/v1/me/expiring")).status_code == 401
