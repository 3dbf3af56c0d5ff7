"""Follows and profiles: idempotent following with both counts moved, no following
yourself, lists of followers and followed accounts, and deleted members nowhere."""

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
from sqlalchemy import text

from kit.db import Database
from kit.testing.services import scalar
from services.content.tests.support import User, make_post, outbox_types


async def follow_rows(database: Database, follower: User, followee: User) -> int:
    found: int = await scalar(
        database,
        "SELECT count(*) FROM follows WHERE follower_id = :a AND followee_id = :b",
        a=follower.id,
        b=followee.id,
    )
    return found


async def test_following_twice_is_one_follow_counted_on_both_profiles(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User]
) -> None:
    fan, star = make_user(), make_user()
    await make_post(client, star)
    for _ in range(2):
        followed = await client.put(f"/v1/profiles/{star.id}/follow", headers=fan.headers)
        assert followed.status_code == 200, followed.text
        assert followed.json() == {
            "id": str(star.id),
            "display_name": None,
            "follower_count": 1,
            "following_count": 0,
            "post_count": 1,
            "viewer_follows": True,
        }
    assert await follow_rows(database, fan, star) == 1
    mine = (await client.get(f"/v1/profiles/{fan.id}", headers=fan.headers)).json()
    assert (mine["following_count"], mine["follower_count"]) == (1, 0)
    anonymous = (await client.get(f"/v1/profiles/{star.id}")).json()
    assert anonymous["viewer_follows"] is False
    assert await outbox_types(database, star.id) == ["content.user.followed.v1"]

    followers = (await client.get(f"/v1/profiles/{star.id}/followers")).json()
    assert [item["user"]["id"] for item in followers["items"]] == [str(fan.id)]
    following = (await client.get(f"/v1/profiles/{fan.id}/following")).json()
    assert [item["user"]["id"] for item in following["items"]] == [str(star.id)]

    for _ in range(2):
        unfollowed = await client.delete(f"/v1/profiles/{star.id}/follow", headers=fan.headers)
        assert unfollowed.status_code == 204
    assert await follow_rows(database, fan, star) == 0
    profile = (await client.get(f"/v1/profiles/{star.id}", headers=fan.headers)).json()
    assert (profile["follower_count"], profile["viewer_follows"]) == (0, False)
    mine = (await client.get(f"/v1/profiles/{fan.id}")).json()
    assert mine["following_count"] == 0
    assert await outbox_types(database, star.id) == [
        "content.user.followed.v1",
        "content.user.unfollowed.v1",
    ]


async def test_following_yourself_is_refused(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User]
) -> None:
    me = make_user()
    for method in ("PUT", "DELETE"):
        refused = await client.request(method, f"/v1/profiles/{me.id}/follow", headers=me.headers)
        assert refused.status_code == 422, refused.text
        assert refused.json()["type"].endswith("follow-self")
    assert await follow_rows(database, me, me) == 0
    assert await scalar(database, "SELECT count(*) FROM members WHERE user_id = :u", u=me.id) == 0


async def test_users_following_each_other_at_once_are_all_counted(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User]
) -> None:
    """Both member rows are locked in the same order by every follow: no deadlock."""
    people = [make_user() for _ in range(12)]
    presses = [
        client.put(f"/v1/profiles/{b.id}/follow", headers=a.headers)
        for a in people
        for b in people
        if a is not b
    ]
    responses = await asyncio.gather(*presses)
    assert {response.status_code for response in responses} == {200}
    for person in people:
        profile = (await client.get(f"/v1/profiles/{person.id}")).json()
        assert (profile["follower_count"], profile["following_count"]) == (11, 11)


async def test_a_followers_list_pages_newest_first(
    client: httpx.AsyncClient, make_user: Callable[..., User]
) -> None:
    star = make_user()
    fans = [make_user() for _ in range(5)]
    for fan in fans:
        assert (
            await client.put(f"/v1/profiles/{star.id}/follow", headers=fan.headers)
        ).status_code == 200
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(f"/v1/profiles/{star.id}/followers", params=params)).json()
        seen += [item["user"]["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [str(fan.id) for fan in reversed(fans)]


async def test_a_deleted_member_is_not_found_anywhere(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User]
) -> None:
    gone, fan = make_user(), make_user()
    await make_post(client, gone)
    async with database.engine.begin() as connection:
        await connection.execute(
            text("UPDATE members SET deleted_at = :at WHERE user_id = :u"),
            {"at": datetime.now(UTC), "u": gone.id},
        )
    for method, path in (
        ("GET", ""),
        ("GET", "/followers"),
        ("GET", "/following"),
        ("PUT", "/follow"),
        ("DELETE", "/follow"),
    ):
        found = await client.request(method, f"/v1/profiles/{gone.id}{path}", headers=fan.headers)
        assert found.status_code == 404, (method, path, found.text)
    assert await follow_rows(database, fan, gone) == 0
    unknown = await client.get(f"/v1/profiles/{make_user().id}")
    assert unknown.status_code == 404
