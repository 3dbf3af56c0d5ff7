"""The daily check-in on PostgreSQL: once a local day even under a burst of taps, streaks
over consecutive days with the bonus on the seventh, and a time zone that changes at most
once a month."""

import asyncio
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import httpx
from sqlalchemy import text

from kit.db import Database
from kit.testing.services import rows, scalar
from services.rewards.models import Checkin
from services.rewards.tests.support import User, assert_ledger_adds_up


def today() -> date:
    return datetime.now(UTC).date()


async def insert_checkins(database: Database, user: User, *days_ago: int) -> None:
    """Earlier check-ins, as those days would have written them (their streaks included)."""
    days = sorted(today() - timedelta(days=ago) for ago in days_ago)
    async with database.transaction() as session:
        streak = 0
        for day in days:
            streak = streak + 1 if day - timedelta(days=1) in days else 1
            session.add(
                Checkin(user_id=user.id, local_date=day, timezone="UTC", streak=streak, points=5)
            )


async def test_a_second_check_in_the_same_day_answers_the_first_and_credits_nothing(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User]
) -> None:
    user = make_user()
    first = await client.post("/v1/me/checkins", headers=user.headers)
    assert first.status_code == 201, first.text
    assert first.json() == {
        "local_date": today().isoformat(),
        "streak": 1,
        "points": 5,
        "bonus": 0,
    }
    again = await client.post("/v1/me/checkins", headers=user.headers)
    assert again.status_code == 200
    assert again.json() == first.json()
    wallet = (await client.get("/v1/me/wallet", headers=user.headers)).json()
    assert wallet["points"] == 5
    assert wallet["streak"] == 1
    await assert_ledger_adds_up(database, user.id)


async def test_twenty_concurrent_taps_check_in_once_and_credit_once(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User]
) -> None:
    user = make_user()
    answers = await asyncio.gather(
        *(client.post("/v1/me/checkins", headers=user.headers) for _ in range(20))
    )
    assert sorted(answer.status_code for answer in answers) == [200] * 19 + [201]
    assert {answer.json()["local_date"] for answer in answers} == {today().isoformat()}
    assert (
        await scalar(database, "SELECT count(*) FROM checkins WHERE user_id = :u", u=user.id) == 1
    )
    credits = await rows(
        database,
        "SELECT amount, source_type, source_id FROM ledger_entries WHERE user_id = :u",
        u=user.id,
    )
    assert [tuple(credit) for credit in credits] == [
        (5, "rewards.checkin", f"{user.id}:{today().isoformat()}")
    ]
    await assert_ledger_adds_up(database, user.id)


async def test_the_seventh_consecutive_day_pays_the_streak_bonus(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User]
) -> None:
    user = make_user()
    await insert_checkins(database, user, 6, 5, 4, 3, 2, 1)
    answer = await client.post("/v1/me/checkins", headers=user.headers)
    assert answer.status_code == 201
    assert answer.json() == {
        "local_date": today().isoformat(),
        "streak": 7,
        "points": 55,
        "bonus": 50,
    }
    sources = await rows(
        database,
        "SELECT source_type, amount FROM ledger_entries WHERE user_id = :u ORDER BY amount",
        u=user.id,
    )
    assert [tuple(source) for source in sources] == [
        ("rewards.checkin", 5),
        ("rewards.checkin.streak", 50),
    ]
    await assert_ledger_adds_up(database, user.id)


async def test_a_missed_day_restarts_the_streak(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User]
) -> None:
    user = make_user()
    await insert_checkins(database, user, 8, 7, 6, 5, 4, 3, 2)
    answer = await client.post("/v1/me/checkins", headers=user.headers)
    assert answer.json()["streak"] == 1
    assert answer.json()["bonus"] == 0


async def test_my_check_ins_are_listed_latest_day_first_in_pages(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User]
) -> None:
    user = make_user()
    await insert_checkins(database, user, 3, 2, 1)
    await client.post("/v1/me/checkins", headers=user.headers)
    seen: list[tuple[str, int]] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/me/checkins", params=params, headers=user.headers)).json()
        seen += [(item["local_date"], item["streak"]) for item in page["items"]]
        if (cursor := page["next_cursor"]) is None:
            break
    assert seen == [((today() - timedelta(days=ago)).isoformat(), 4 - ago) for ago in range(4)]
    assert (await client.get("/v1/me/checkins", headers=make_user().headers)).json()["items"] == []


async def test_the_time_zone_sets_the_local_day_and_changes_at_most_once_in_30_days(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User]
) -> None:
    user = make_user()
    moved = await client.put(
        "/v1/me/timezone", json={"timezone": "Pacific/Kiritimati"}, headers=user.headers
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["timezone"] == "Pacific/Kiritimati"
    checked = await client.post("/v1/me/checkins", headers=user.headers)
    kiritimati_today = (datetime.now(UTC) + timedelta(hours=14)).date()
    assert checked.json()["local_date"] == kiritimati_today.isoformat()

    hop = await client.put(
        "/v1/me/timezone", json={"timezone": "Pacific/Pago_Pago"}, headers=user.headers
    )
    assert hop.status_code == 409
    assert hop.json()["type"].endswith("/timezone-changed-recently")
    same = await client.put(
        "/v1/me/timezone", json={"timezone": "Pacific/Kiritimati"}, headers=user.headers
    )
    assert same.status_code == 200
    bad = await client.put(
        "/v1/me/timezone", json={"timezone": "Mars/Olympus"}, headers=user.headers
    )
    assert bad.status_code == 422
    assert (
        await scalar(database, "SELECT timezone FROM accounts WHERE user_id = :u", u=user.id)
        == "Pacific/Kiritimati"
    )


async def test_a_zone_moved_back_a_day_cannot_check_in_the_day_before(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User]
) -> None:
    user = make_user()
    await client.put(
        "/v1/me/timezone", json={"timezone": "Pacific/Kiritimati"}, headers=user.headers
    )
    await client.post("/v1/me/checkins", headers=user.headers)
    async with database.engine.begin() as connection:
        await connection.execute(
            text(
                "UPDATE accounts SET timezone_changed_at = now() - interval '31 days'"
                " WHERE user_id = :u"
            ),
            {"u": user.id},
        )
    await client.put(
        "/v1/me/timezone", json={"timezone": "Pacific/Pago_Pago"}, headers=user.headers
    )
    again = await client.post("/v1/me/checkins", headers=user.headers)
    assert again.status_code == 409
    assert again.json()["type"].endswith("/already-checked-in")
    assert (
        await scalar(database, "SELECT count(*) FROM checkins WHERE user_id = :u", u=user.id) == 1
    )
    await assert_ledger_adds_up(database, user.id)


async def test_a_check_in_pays_by_the_rules_and_a_spent_budget_stops_a_campaign(
    client: httpx.AsyncClient,
    database: Database,
    make_user: Callable[..., User],
    staff: User,
) -> None:
    """A check-in campaign paying value from a budget of one credit: the first member's
    check-in earns it, the second's does not, and both still check in and get the points."""
    campaign = await client.post(
        "/v1/rewards/rules",
        json={
            "name": "Check-in week",
            "source_type": "rewards.checkin",
            "role": "actor",
            "currency": "value",
            "dimension": "interaction",
            "amount": 3,
            "budget": 3,
            "starts_at": "2026-01-01T00:00:00Z",
        },
        headers=staff.headers,
    )
    assert campaign.status_code == 201, campaign.text
    try:
        first, second = make_user(), make_user()
        for user in (first, second):
            answer = await client.post("/v1/me/checkins", headers=user.headers)
            assert answer.status_code == 201, answer.text
            assert answer.json()["points"] == 5
        values = [
            (await client.get("/v1/me/wallet", headers=user.headers)).json()["community_value"]
            for user in (first, second)
        ]
        assert values == [3, 0]
        assert (
            await scalar(
                database, "SELECT budget_used FROM rules WHERE id = :id", id=campaign.json()["id"]
            )
            == 3
        )
    finally:
        ended = await client.patch(
            f"/v1/rewards/rules/{campaign.json()['id']}",
            json={"ends_at": datetime.now(UTC).isoformat()},
            headers=staff.headers,
        )
        assert ended.status_code == 200, ended.text
