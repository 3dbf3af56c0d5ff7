"""Earning rules on PostgreSQL: caps and budgets hold under concurrent credits, a
redelivered source pays and counts once, pending points, reversals of a source; the rules'
admin API refuses overlaps and bad rules (writing nothing) and audits every change."""

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from kit.db import Database
from kit.testing.services import rows, scalar
from services.rewards.service import rules
from services.rewards.tests.support import User, assert_ledger_adds_up

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def fresh_source_type() -> str:
    return f"test.r{uuid.uuid4().hex}.v1"


def rule_body(source_type: str, **changes: Any) -> dict[str, Any]:
    return {
        "name": "Test rule",
        "source_type": source_type,
        "role": "author",
        "currency": "points",
        "amount": 5,
        "starts_at": "2026-01-01T00:00:00Z",
        **changes,
    }


async def create_rule(client: httpx.AsyncClient, staff: User, **body: Any) -> dict[str, Any]:
    created = await client.post("/v1/rewards/rules", json=body, headers=staff.headers)
    assert created.status_code == 201, created.text
    rule: dict[str, Any] = created.json()
    return rule


async def earn(
    database: Database,
    user: uuid.UUID,
    source_type: str,
    *,
    source_id: str | None = None,
    reference: str | None = None,
    at: datetime = NOW,
) -> int:
    async with database.transaction() as session:
        written = await rules.earn(
            session=session,
            user_id=user,
            source_type=source_type,
            source_id=source_id or str(uuid.uuid4()),
            role="author",
            reference_type="post",
            reference_id=reference or str(uuid.uuid4()),
            at=at,
        )
    return len(written)


async def points_of(database: Database, user: uuid.UUID) -> int:
    points: int = await scalar(database, "SELECT points FROM accounts WHERE user_id = :u", u=user)
    return points


async def usage(database: Database, rule_id: str) -> dict[str, int]:
    found = await rows(
        database, "SELECT period, amount FROM rule_usage WHERE rule_id = :r", r=uuid.UUID(rule_id)
    )
    return {row.period: row.amount for row in found}


async def test_a_daily_cap_holds_under_50_concurrent_credits(
    database: Database, client: httpx.AsyncClient, staff: User
) -> None:
    kind, user = fresh_source_type(), uuid.uuid4()
    rule = await create_rule(client, staff, **rule_body(kind, amount=5, daily_cap=50))
    paid = await asyncio.gather(*(earn(database, user, kind) for _ in range(50)))
    assert sum(paid) == 10
    assert await points_of(database, user) == 50
    assert await usage(database, rule["id"]) == {"d:2026-06-01": 50}
    assert await earn(database, user, kind, at=NOW + timedelta(days=1)) == 1
    await assert_ledger_adds_up(database, user)


async def test_a_monthly_cap_counts_across_days(
    database: Database, client: httpx.AsyncClient, staff: User
) -> None:
    kind, user = fresh_source_type(), uuid.uuid4()
    rule = await create_rule(client, staff, **rule_body(kind, amount=4, monthly_cap=10))
    days = [NOW + timedelta(days=day) for day in range(4)]
    paid = [await earn(database, user, kind, at=day) for day in days]
    assert paid == [1, 1, 0, 0]
    assert await earn(database, user, kind, at=datetime(2026, 7, 1, tzinfo=UTC)) == 1
    assert await usage(database, rule["id"]) == {"m:2026-06": 8, "m:2026-07": 4}
    await assert_ledger_adds_up(database, user)


async def test_a_budget_stops_paying_exactly_at_its_total_under_concurrency(
    database: Database, client: httpx.AsyncClient, staff: User
) -> None:
    kind = fresh_source_type()
    rule = await create_rule(client, staff, **rule_body(kind, amount=3, budget=90))
    users = [uuid.uuid4() for _ in range(50)]
    paid = await asyncio.gather(*(earn(database, user, kind) for user in users))
    assert sum(paid) == 30
    listed = await client.get("/v1/rewards/rules?limit=100", headers=staff.headers)
    mine = next(item for item in listed.json()["items"] if item["id"] == rule["id"])
    assert mine["budget_used"] == 90
    assert (
        await scalar(
            database,
            "SELECT coalesce(sum(amount), 0) FROM ledger_entries WHERE rule_id = :r",
            r=uuid.UUID(rule["id"]),
        )
        == 90
    )
    for user, credits in zip(users, paid, strict=True):
        if credits:
            await assert_ledger_adds_up(database, user)


async def test_a_redelivered_source_pays_once_and_consumes_the_cap_once(
    database: Database, client: httpx.AsyncClient, staff: User
) -> None:
    kind, user, event_id = fresh_source_type(), uuid.uuid4(), str(uuid.uuid4())
    points = await create_rule(client, staff, **rule_body(kind, amount=5, daily_cap=10, budget=50))
    value = await create_rule(
        client,
        staff,
        **rule_body(kind, currency="value", dimension="interaction", amount=2, daily_cap=4),
    )
    paid = await asyncio.gather(
        *(earn(database, user, kind, source_id=event_id) for _ in range(10))
    )
    assert sorted(paid) == [0] * 9 + [2]
    assert await usage(database, points["id"]) == {"d:2026-06-01": 5}
    assert await usage(database, value["id"]) == {"d:2026-06-01": 2}
    assert (
        await scalar(
            database, "SELECT budget_used FROM rules WHERE id = :r", r=uuid.UUID(points["id"])
        )
        == 5
    )
    assert await earn(database, user, kind) == 2
    assert await earn(database, user, kind) == 0
    assert await points_of(database, user) == 10
    await assert_ledger_adds_up(database, user)


async def test_pending_days_keep_points_pending_and_rules_apply_only_in_their_period(
    database: Database, client: httpx.AsyncClient, staff: User
) -> None:
    kind, user = fresh_source_type(), uuid.uuid4()
    await create_rule(
        client,
        staff,
        **rule_body(
            kind,
            amount=7,
            pending_days=14,
            starts_at="2026-05-01T00:00:00Z",
            ends_at="2026-07-01T00:00:00Z",
        ),
    )
    assert await earn(database, user, kind, at=datetime(2026, 4, 30, tzinfo=UTC)) == 0
    assert await earn(database, user, kind) == 1
    assert await earn(database, user, kind, at=datetime(2026, 7, 1, tzinfo=UTC)) == 0
    activates = await scalar(
        database, "SELECT activates_at FROM point_lots WHERE user_id = :u", u=user
    )
    assert activates == NOW + timedelta(days=14)
    assert (
        await scalar(database, "SELECT pending_points FROM accounts WHERE user_id = :u", u=user)
        == 7
    )
    await assert_ledger_adds_up(database, user)


async def test_reversing_a_source_takes_back_all_it_earned_once(
    database: Database, client: httpx.AsyncClient, staff: User
) -> None:
    published, featured = fresh_source_type(), fresh_source_type()
    for kind in (published, featured):
        await create_rule(client, staff, **rule_body(kind, amount=10))
        await create_rule(
            client, staff, **rule_body(kind, currency="value", dimension="development", amount=3)
        )
    user, post = uuid.uuid4(), str(uuid.uuid4())
    assert await earn(database, user, published, reference=post) == 2
    assert await earn(database, user, featured, reference=post) == 2
    assert await earn(database, user, published) == 2
    removal = str(uuid.uuid4())
    for expected in (4, 0):
        async with database.transaction() as session:
            reversals = await rules.reverse_reference(
                session=session,
                reference_type="post",
                reference_id=post,
                source_type="content.post.removed.v1",
                source_id=removal,
                at=NOW,
            )
        assert len(reversals) == expected
    assert await points_of(database, user) == 10
    assert (
        await scalar(database, "SELECT value_development FROM accounts WHERE user_id = :u", u=user)
        == 3
    )
    await assert_ledger_adds_up(database, user)


async def test_overlapping_rules_are_refused_and_nothing_is_written(
    database: Database, client: httpx.AsyncClient, staff: User
) -> None:
    kind = fresh_source_type()
    await create_rule(client, staff, **rule_body(kind, ends_at="2026-07-01T00:00:00Z"))
    overlapping = [
        rule_body(kind),
        rule_body(kind, starts_at="2026-06-30T00:00:00Z"),
        rule_body(kind, starts_at="2025-06-01T00:00:00Z", ends_at="2026-01-02T00:00:00Z"),
    ]
    for body in overlapping:
        refused = await client.post("/v1/rewards/rules", json=body, headers=staff.headers)
        assert refused.status_code == 422, refused.text
        assert refused.json()["type"].endswith("/overlapping-rule")
    refused_at_once = await asyncio.gather(
        *(
            client.post(
                "/v1/rewards/rules",
                json=rule_body(kind, starts_at="2026-08-01T00:00:00Z"),
                headers=staff.headers,
            )
            for _ in range(5)
        )
    )
    assert sorted(answer.status_code for answer in refused_at_once) == [201] + [422] * 4
    await create_rule(
        client,
        staff,
        **rule_body(kind, starts_at="2026-07-01T00:00:00Z", ends_at="2026-08-01T00:00:00Z"),
    )
    await create_rule(client, staff, **rule_body(kind, currency="value", dimension="special"))
    assert await scalar(database, "SELECT count(*) FROM rules WHERE source_type = :k", k=kind) == 4


async def test_bad_rules_are_refused_and_nothing_is_written(
    database: Database,
    client: httpx.AsyncClient,
    staff: User,
    make_user: Callable[..., User],
) -> None:
    kind = fresh_source_type()
    bad = [
        rule_body(kind, amount=0),
        rule_body(kind, amount=-5),
        rule_body(kind, currency="euros"),
        rule_body(kind, currency="value", dimension="charm"),
        rule_body(kind, currency="value"),
        rule_body(kind, dimension="interaction"),
        rule_body(kind, daily_cap=0),
        rule_body(kind, amount=10, daily_cap=5),
        rule_body(kind, amount=10, budget=5),
        rule_body(kind, ends_at="2025-01-01T00:00:00Z"),
        rule_body(kind, starts_at=None, ends_at="2026-01-01T00:00:00Z"),
        {**rule_body(kind), "source_type": "Not A Type"},
        rule_body(kind, name=" "),
        {**rule_body(kind), "budget_used": 3},
    ]
    for body in bad:
        refused = await client.post("/v1/rewards/rules", json=body, headers=staff.headers)
        assert refused.status_code == 422, (body, refused.text)
    for caller in (make_user("fan"), make_user("owner")):
        forbidden = await client.post(
            "/v1/rewards/rules", json=rule_body(kind), headers=caller.headers
        )
        assert forbidden.status_code == 403
        assert (await client.get("/v1/rewards/rules", headers=caller.headers)).status_code == 403
    assert (await client.post("/v1/rewards/rules", json=rule_body(kind))).status_code == 401
    assert await scalar(database, "SELECT count(*) FROM rules WHERE source_type = :k", k=kind) == 0


async def test_changing_and_ending_a_rule_is_audited_and_the_budget_never_drops_below_use(
    database: Database, client: httpx.AsyncClient, staff: User, make_user: Callable[..., User]
) -> None:
    kind, user = fresh_source_type(), uuid.uuid4()
    rule = await create_rule(client, staff, **rule_body(kind, amount=5, budget=20, starts_at=None))
    assert await earn(database, user, kind, at=datetime.now(UTC)) == 1
    path = f"/v1/rewards/rules/{rule['id']}"
    below = await client.patch(path, json={"budget": 4}, headers=staff.headers)
    assert below.status_code == 409
    assert below.json()["type"].endswith("/budget-below-used")
    changed = await client.patch(
        path, json={"amount": 6, "daily_cap": None, "budget": 6}, headers=staff.headers
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["amount"], changed.json()["budget"]) == (6, 6)
    assert (
        await client.patch(path, json={"amount": None}, headers=staff.headers)
    ).status_code == 422
    other = make_user("fan")
    assert (await client.patch(path, json={"amount": 1}, headers=other.headers)).status_code == 403
    assert (
        await client.patch(
            f"/v1/rewards/rules/{uuid.uuid4()}", json={"amount": 1}, headers=staff.headers
        )
    ).status_code == 404
    ended = await client.post(f"{path}/end", headers=staff.headers)
    assert ended.status_code == 200, ended.text
    assert ended.json()["ends_at"] is not None
    assert (await client.post(f"{path}/end", headers=staff.headers)).status_code == 409
    assert await earn(database, user, kind, at=datetime.now(UTC)) == 0
    trail = await rows(
        database,
        "SELECT action, actor_id FROM audit_records WHERE subject_id = :s ORDER BY at, id",
        s=rule["id"],
    )
    assert [(row.action, row.actor_id) for row in trail] == [
        ("rule.created", staff.id),
        ("rule.updated", staff.id),
        ("rule.ended", staff.id),
    ]
