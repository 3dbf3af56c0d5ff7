"""Leaderboards on a seeded set of accounts: the order (score, then user id), the city
filter, only this period's and living accounts, my rank (exact, and estimated from the
jobs' snapshot beyond the exact count); and the plans PostgreSQL picks for the top and for
a rank read the boards' indexes."""

import random
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, text

from kit.db import Database
from kit.testing.services import running, service_client
from kit.testing.tokens import TokenMinter
from services.rewards.app import create_app
from services.rewards.config import RewardsSettings
from services.rewards.models import Account
from services.rewards.service import leaderboards, ledger

SEEDED = 3000
CITIES = 6


@pytest.fixture(scope="module")
async def seeded(database: Database) -> dict[str, Any]:
    """Accounts in fresh cities: most of this period, some of last year, some deleted."""
    now = datetime.now(UTC)
    year, quarter = now.year, ledger.quarter_of(now)
    cities = [f"city {uuid.uuid4()}" for _ in range(CITIES)]
    pick = random.Random(7)
    accounts = []
    for number in range(SEEDED):
        stale, deleted = number % 10 == 0, number % 17 == 0
        accounts.append(
            {
                "user_id": uuid.uuid4(),
                "city": cities[number % CITIES],
                "timezone": "UTC",
                "value_interaction": 1,
                "year_value": pick.randint(1, 500),  # ties on purpose
                "value_year": year - 1 if stale else year,
                "quarter_value": pick.randint(1, 50),
                "value_quarter": quarter - 1 if stale else quarter,
                "referrals_rewarded": pick.randint(0, 20),
                "referral_year": year,
                "deleted_at": now if deleted else None,
                "created_at": now,
                "updated_at": now,
            }
        )
    async with database.transaction() as session:
        await session.execute(insert(Account), accounts)
        await session.execute(text("ANALYZE accounts"))
    return {"cities": cities, "accounts": accounts, "year": year, "quarter": quarter}


def expected(seeded: dict[str, Any], city: str, score: str, period: str, key: int) -> list[Any]:
    ranked = [
        account
        for account in seeded["accounts"]
        if account["city"] == city
        and account[period] == key
        and account["deleted_at"] is None
        and account[score] > 0
    ]
    return sorted(ranked, key=lambda account: (account[score], account["user_id"]), reverse=True)


async def test_the_value_board_of_a_city_ranks_by_value_then_user_id(
    client: httpx.AsyncClient, seeded: dict[str, Any]
) -> None:
    city = seeded["cities"][0]
    response = await client.get("/v1/leaderboards/value", params={"city": city, "limit": 100})
    assert response.status_code == 200, response.text
    board = response.json()
    want = expected(seeded, city, "year_value", "value_year", seeded["year"])[:100]
    assert [item["user_id"] for item in board["items"]] == [str(a["user_id"]) for a in want]
    assert [item["rank"] for item in board["items"]] == list(range(1, 101))
    assert [item["score"] for item in board["items"]] == [a["year_value"] for a in want]
    assert {item["city"] for item in board["items"]} == {city}

    quarter = await client.get(
        "/v1/leaderboards/value", params={"city": city, "period": "quarter", "limit": 10}
    )
    growers = expected(seeded, city, "quarter_value", "value_quarter", seeded["quarter"])[:10]
    assert [item["user_id"] for item in quarter.json()["items"]] == [
        str(a["user_id"]) for a in growers
    ]
    referrers = await client.get("/v1/leaderboards/referrers", params={"city": city, "limit": 10})
    top = expected(seeded, city, "referrals_rewarded", "referral_year", seeded["year"])[:10]
    assert [item["user_id"] for item in referrers.json()["items"]] == [
        str(a["user_id"]) for a in top
    ]


async def test_my_rank_counts_who_is_ahead_in_my_city_and_skips_the_absent(
    client: httpx.AsyncClient, seeded: dict[str, Any], minter: TokenMinter
) -> None:
    city = seeded["cities"][1]
    ranked = expected(seeded, city, "year_value", "value_year", seeded["year"])
    for place in (0, 1, len(ranked) // 2, len(ranked) - 1):
        me = ranked[place]
        response = await client.get(
            "/v1/me/rank", params={"city": city}, headers=minter.headers(me["user_id"])
        )
        assert response.status_code == 200, response.text
        assert response.json() == {
            "board": "value",
            "period": "year",
            "city": city,
            "rank": place + 1,
            "exact": True,
            "score": me["year_value"],
        }
    absent = [
        account
        for account in seeded["accounts"]
        if account["deleted_at"] is not None or account["value_year"] != seeded["year"]
    ]
    for account in absent[:3]:
        response = await client.get(
            "/v1/me/rank", params={"city": city}, headers=minter.headers(account["user_id"])
        )
        assert response.json()["rank"] is None
    listed = await client.get("/v1/leaderboards/value", params={"city": city, "limit": 100})
    assert not {str(a["user_id"]) for a in absent} & {
        item["user_id"] for item in listed.json()["items"]
    }
    refused = await client.get(
        "/v1/me/rank",
        params={"board": "referrers", "period": "quarter"},
        headers=minter.headers(),
    )
    assert refused.status_code == 422


async def test_the_top_and_a_rank_read_the_boards_indexes(
    database: Database, seeded: dict[str, Any]
) -> None:
    """At a few thousand rows the planner may rightly prefer a scan of the table for a
    count; with scans off, each query is answered by a board's index, in its order (no
    sort), the rank's row comparison being an index condition (a range, not a filter)."""
    params = {"year": seeded["year"], "city": seeded["cities"][0], "score": 250}
    queries = [
        "SELECT * FROM accounts WHERE value_year = :year AND deleted_at IS NULL"
        " AND year_value > 0 ORDER BY year_value DESC, user_id DESC LIMIT 100",
        "SELECT * FROM accounts WHERE value_year = :year AND deleted_at IS NULL"
        " AND year_value > 0 AND city = :city ORDER BY year_value DESC, user_id DESC LIMIT 100",
        "SELECT count(*) FROM accounts WHERE value_year = :year AND deleted_at IS NULL"
        " AND year_value > 0"
        " AND (year_value, user_id) > (:score, '00000000-0000-0000-0000-000000000000')",
        "SELECT count(*) FROM accounts WHERE value_year = :year AND deleted_at IS NULL"
        " AND year_value > 0 AND city = :city"
        " AND (year_value, user_id) > (:score, '00000000-0000-0000-0000-000000000000')",
    ]
    async with database.engine.connect() as connection:
        await connection.execute(text("SET enable_seqscan = off"))
        await connection.execute(text("SET enable_bitmapscan = off"))
        for query in queries:
            found = await connection.execute(text("EXPLAIN " + query), params)
            plan = "\n".join(row[0] for row in found)
            assert "using ix_accounts_board_" in plan, plan
            conditions = [line for line in plan.splitlines() if "Index Cond" in line]
            assert "count(*)" not in query or "ROW(" in conditions[0], plan
            assert "Sort" not in plan, plan


async def test_a_rank_beyond_the_exact_count_is_estimated_from_the_jobs_snapshot(
    database: Database, seeded: dict[str, Any], minter: TokenMinter, rewards_url: str
) -> None:
    settings = RewardsSettings(database_url=rewards_url, bus_enabled=False, rank_exact_limit=20)
    city = seeded["cities"][2]
    ranked = expected(seeded, city, "year_value", "value_year", seeded["year"])
    near, deep = ranked[5], ranked[len(ranked) * 3 // 4]
    app = create_app(settings, token_verifier=minter.verifier())
    async with running(app), service_client(app, base_url="http://rewards") as client:

        async def rank_of(account: dict[str, Any]) -> dict[str, Any]:
            response = await client.get(
                "/v1/me/rank", params={"city": city}, headers=minter.headers(account["user_id"])
            )
            assert response.status_code == 200, response.text
            return dict(response.json())

        async with database.transaction() as session:
            await session.execute(text("DELETE FROM board_snapshots"))
        assert (await rank_of(near))["rank"] == 6
        unknown = await rank_of(deep)
        assert (unknown["rank"], unknown["exact"]) == (21, False)

        async with database.transaction() as session:
            assert await leaderboards.take_snapshots(session=session, now=datetime.now(UTC)) > 3
        estimated = await rank_of(deep)
        actual = len(ranked) * 3 // 4 + 1
        assert estimated["exact"] is False
        assert abs(estimated["rank"] - actual) <= len(ranked) // 10, (estimated, actual)
        assert (await rank_of(near))["exact"] is True
