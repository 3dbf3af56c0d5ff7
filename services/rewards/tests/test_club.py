"""The club job: the year's top by value, the quarter's growers and the year's referrers;
computing twice changes and announces nothing new; a member announced only when their
membership changed; the public list shows why each member is in."""

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import insert, text

from kit.db import Database
from kit.testing.services import outbox_events, scalar
from services.rewards.config import RewardsSettings
from services.rewards.models import Account
from services.rewards.service import club

AT = datetime(2031, 5, 10, 12, tzinfo=UTC)  # a year no other test credits
SETTINGS = RewardsSettings(club_yearly_size=5, club_quarter_size=3, club_referrer_size=2)
CHANGED = "rewards.club.membership_changed.v1"


async def announced(database: Database, users: list[uuid.UUID]) -> list[dict[str, Any]]:
    found = []
    for user in users:
        found += [
            event.data for event in await outbox_events(database, subject=user, event_type=CHANGED)
        ]
    return found


async def compute(database: Database) -> club.Changes:
    async with database.transaction() as session:
        return await club.compute(session=session, at=AT, settings=SETTINGS)


async def test_the_club_is_computed_once_and_announces_only_changes(
    client: httpx.AsyncClient, database: Database
) -> None:
    users = sorted(uuid.uuid4() for _ in range(20))
    rows = [
        {
            "user_id": user,
            "display_name": f"member {number}",
            "timezone": "UTC",
            "year_value": 1000 - number * 10,  # users[0..4] lead the year
            "value_year": 2031,
            "quarter_value": number if number >= 17 else 1,  # users[17..19] grow fastest
            "value_quarter": 20312,
            "referrals_rewarded": 5 if number in (3, 10) else 0,  # users[3], users[10] refer
            "referral_year": 2031,
            "created_at": AT,
            "updated_at": AT,
        }
        for number, user in enumerate(users)
    ]
    await compute(database)  # other tests' members of other periods leave first
    async with database.transaction() as session:
        await session.execute(insert(Account), rows)

    first = await compute(database)
    members = {*users[:5], *users[17:], users[10]}
    events = await announced(database, users)
    assert {uuid.UUID(event["user_id"]) for event in events} == members
    assert len(events) == len(members)
    by_user = {uuid.UUID(event["user_id"]): event for event in events}
    assert by_user[users[3]]["reasons"] == ["yearly_top", "top_referrer"]
    assert by_user[users[19]]["reasons"] == ["quarter_growth"]
    assert all(event["member"] and event["period"] == "2031-Q2" for event in events)
    assert first.announced == len(members)

    again = await compute(database)
    assert again == club.Changes(rows=0, announced=0)
    assert len(await announced(database, users)) == len(members)

    listed = (await client.get("/v1/club")).json()
    assert [member["user_id"] for member in listed][:5] == [str(user) for user in users[:5]]
    third = next(member for member in listed if member["user_id"] == str(users[3]))
    assert third["display_name"] == "member 3"
    assert third["reasons"] == [
        {"reason": "yearly_top", "period": "2031", "rank": 4},
        {"reason": "top_referrer", "period": "2031", "rank": 2},  # a tie: higher id first
    ]

    async with database.transaction() as session:  # users[12] overtakes; users[4] falls out
        await session.execute(
            text("UPDATE accounts SET year_value = 5000 WHERE user_id = :u"), {"u": users[12]}
        )
    changed = await compute(database)
    assert changed.announced == 2
    assert len(await announced(database, users)) == len(members) + 2
    assert [event["member"] for event in await announced(database, [users[12]])] == [True]
    left = await announced(database, [users[4]])
    assert [(event["member"], event["reasons"]) for event in left] == [
        (True, ["yearly_top"]),
        (False, []),
    ]
    assert (
        await scalar(
            database,
            "SELECT rank FROM club_members WHERE user_id = :u AND reason = 'yearly_top'",
            u=users[12],
        )
        == 1
    )
