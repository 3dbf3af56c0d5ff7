"""Tiers follow community value: up at once, down only after the grace period unless the
value recovered; every change is announced once; the member reads what the next tier needs
and what keeps theirs; staff replace the thresholds (strictly increasing, level 0 at 0)."""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx

from kit.db import Database
from kit.testing.services import outbox_events, rows, scalar
from kit.testing.tokens import TokenMinter
from services.rewards.models import Dimension, LedgerEntry
from services.rewards.service import ledger, tiers
from services.rewards.service.ledger import Source
from services.rewards.tests.support import User

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
TIER_CHANGED = "rewards.tier.changed.v1"
DEFAULT_TIERS = [
    {"name": "Member", "threshold": 0},
    {"name": "Bronze", "threshold": 100},
    {"name": "Silver", "threshold": 500},
    {"name": "Gold", "threshold": 2000},
    {"name": "Platinum", "threshold": 10000},
]


def earned(post: str | None = None) -> Source:
    reference = post or str(uuid.uuid4())
    return Source(
        type="content.post.published.v1",
        id=str(uuid.uuid4()),
        role="author",
        reference_type="post",
        reference_id=reference,
    )


async def credit(database: Database, user: uuid.UUID, amount: int, source: Source) -> LedgerEntry:
    async with database.transaction() as session:
        entry = await ledger.credit_value(
            session=session,
            user_id=user,
            dimension=Dimension.INTERACTION,
            amount=amount,
            source=source,
            at=NOW,
        )
    assert entry is not None
    return entry


async def take_back(database: Database, entry: LedgerEntry, at: datetime) -> None:
    async with database.transaction() as session:
        await ledger.reverse(
            session=session,
            entry=entry,
            source=Source(type="content.post.removed.v1", id=str(uuid.uuid4())),
            at=at,
        )


async def changes(database: Database, user: uuid.UUID) -> list[tuple[int, int]]:
    found = await outbox_events(database, subject=user, event_type=TIER_CHANGED)
    return [(event.data["previous_tier"], event.data["tier"]) for event in found]


async def tier_of(database: Database, user: uuid.UUID) -> int:
    return int(await scalar(database, "SELECT tier FROM accounts WHERE user_id = :u", u=user))


async def demote(database: Database, now: datetime) -> None:
    async with database.transaction() as session:
        await tiers.demote_due(session=session, now=now)


async def test_a_value_credit_promotes_at_once_and_announces_it_once(database: Database) -> None:
    user, source = uuid.uuid4(), earned()
    await credit(database, user, 60, earned())
    assert await changes(database, user) == []
    for _ in range(2):  # a redelivery credits nothing and announces nothing
        async with database.transaction() as session:
            await ledger.credit_value(
                session=session,
                user_id=user,
                dimension=Dimension.DEVELOPMENT,
                amount=500,
                source=source,
                at=NOW,
            )
    assert await tier_of(database, user) == 2
    assert await changes(database, user) == [(0, 2)]
    (event,) = await outbox_events(database, subject=user, event_type=TIER_CHANGED)
    assert event.data["tier_name"] == "Silver"
    assert event.data["community_value"] == 560


async def test_a_reversal_keeps_the_tier_through_the_grace_period_then_demotes_once(
    database: Database,
) -> None:
    user = uuid.uuid4()
    await credit(database, user, 150, earned())
    big = await credit(database, user, 400, earned())
    assert await changes(database, user) == [(0, 1), (1, 2)]

    await take_back(database, big, NOW)
    assert await tier_of(database, user) == 2
    kept_until = await scalar(
        database, "SELECT tier_kept_until FROM accounts WHERE user_id = :u", u=user
    )
    assert kept_until == NOW + tiers.grace()

    await demote(database, NOW + tiers.grace() - timedelta(days=1))
    assert await tier_of(database, user) == 2
    for _ in range(2):
        await demote(database, NOW + tiers.grace() + timedelta(days=1))
    assert await tier_of(database, user) == 1
    assert await changes(database, user) == [(0, 1), (1, 2), (2, 1)]
    assert (
        await scalar(database, "SELECT tier_kept_until FROM accounts WHERE user_id = :u", u=user)
        is None
    )


async def test_a_value_that_recovers_within_the_grace_period_keeps_the_tier(
    database: Database,
) -> None:
    user = uuid.uuid4()
    removed = await credit(database, user, 600, earned())
    await take_back(database, removed, NOW)
    assert await scalar(database, "SELECT tier_kept_until FROM accounts WHERE user_id = :u", u=user)
    await credit(database, user, 520, earned())
    await demote(database, NOW + tiers.grace() + timedelta(days=1))
    assert await tier_of(database, user) == 2
    assert await changes(database, user) == [(0, 2)]


async def test_my_tier_says_what_the_next_needs_and_what_keeps_mine(
    client: httpx.AsyncClient, database: Database, minter: TokenMinter
) -> None:
    user = uuid.uuid4()
    headers = minter.headers(user)
    fresh = (await client.get("/v1/me/tier", headers=headers)).json()
    assert fresh == {
        "tier": 0,
        "name": "Member",
        "community_value": 0,
        "next": {"tier": 1, "name": "Bronze", "needed": 100},
        "keep": {"threshold": 0, "kept_until": None, "needed": 0},
    }
    await credit(database, user, 120, earned())
    removed = await credit(database, user, 400, earned())
    held = (await client.get("/v1/me/tier", headers=headers)).json()
    assert held["next"] == {"tier": 3, "name": "Gold", "needed": 1480}
    assert held["keep"] == {"threshold": 500, "kept_until": None, "needed": 0}

    await take_back(database, removed, NOW)
    below = (await client.get("/v1/me/tier", headers=headers)).json()
    assert (below["tier"], below["name"], below["community_value"]) == (2, "Silver", 120)
    assert below["keep"]["needed"] == 380
    assert datetime.fromisoformat(below["keep"]["kept_until"]) == NOW + tiers.grace()
    assert (await client.get("/v1/me/tier")).status_code == 401


async def test_the_tiers_are_public_and_staff_replace_them_with_increasing_thresholds(
    client: httpx.AsyncClient, database: Database, staff: User, make_user: Callable[..., User]
) -> None:
    listed = await client.get("/v1/rewards/tiers")
    assert listed.status_code == 200
    assert [{"name": t["name"], "threshold": t["threshold"]} for t in listed.json()] == (
        DEFAULT_TIERS
    )
    fan = make_user()
    refused = await client.put(
        "/v1/rewards/tiers", json={"tiers": DEFAULT_TIERS}, headers=fan.headers
    )
    assert refused.status_code == 403
    for bad in (
        [{"name": "Start", "threshold": 10}, {"name": "Next", "threshold": 20}],
        [{"name": "Member", "threshold": 0}, {"name": "Same", "threshold": 0}],
        [
            {"name": "Member", "threshold": 0},
            {"name": "High", "threshold": 300},
            {"name": "Lower", "threshold": 200},
        ],
        [],
    ):
        response = await client.put("/v1/rewards/tiers", json={"tiers": bad}, headers=staff.headers)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
    assert await scalar(database, "SELECT count(*) FROM tiers") == len(DEFAULT_TIERS)

    replaced = [{"name": "Member", "threshold": 0}, {"name": "Star", "threshold": 50}]
    try:
        response = await client.put(
            "/v1/rewards/tiers", json={"tiers": replaced}, headers=staff.headers
        )
        assert response.status_code == 200, response.text
        assert response.json() == [
            {"level": 0, "name": "Member", "threshold": 0},
            {"level": 1, "name": "Star", "threshold": 50},
        ]
        user = uuid.uuid4()
        await credit(database, user, 60, earned())
        assert await tier_of(database, user) == 1
        trail = await rows(
            database, "SELECT actor_id FROM audit_records WHERE action = 'tiers.replaced'"
        )
        assert staff.id in {row.actor_id for row in trail}
    finally:
        restored = await client.put(
            "/v1/rewards/tiers", json={"tiers": DEFAULT_TIERS}, headers=staff.headers
        )
        assert restored.status_code == 200
