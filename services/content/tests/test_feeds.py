"""Feeds: what each shows, in which order, to whom; every page continues where the last ended."""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import text

from kit.db import Database
from services.content.service.trending import hot_score
from services.content.tests.support import User, make_post


async def execute(database: Database, sql: str, **params: Any) -> None:
    async with database.engine.begin() as connection:
        await connection.execute(text(sql), params)


async def all_pages(
    client: httpx.AsyncClient, path: str, headers: dict[str, str] | None = None, limit: int = 2
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        response = await client.get(path, params=params, headers=headers or {})
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def test_city_and_official_feeds_show_only_their_posts(
    client: httpx.AsyncClient, make_user: Callable[..., User], staff: User
) -> None:
    city = f"City-{uuid.uuid4().hex[:8]}"
    fan = make_user()
    local = [await make_post(client, fan, text=f"local {n}", city=city) for n in range(3)]
    await make_post(client, fan, text="elsewhere", city="Elsewhere")
    news = await make_post(client, staff, text="brand news", official=True, city=city)

    in_city = [item["id"] for item in await all_pages(client, f"/v1/feed/cities/{city}")]
    assert in_city == [news["id"], *[post["id"] for post in reversed(local)]]
    official = [item["id"] for item in await all_pages(client, "/v1/feed/official", limit=100)]
    assert news["id"] in official
    assert not {post["id"] for post in local} & set(official)


async def test_trending_ranks_engagement_with_time_decay(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User]
) -> None:
    author = make_user()
    quiet, popular, old_popular = [
        await make_post(client, author, text=name) for name in ("quiet", "popular", "old")
    ]
    rows = await all_pages(client, "/v1/feed/trending", limit=100)
    assert rows, "fresh posts trend"
    for post, likes, hours_ago in ((popular, 50, 1), (old_popular, 50, 30), (quiet, 0, 1)):
        await execute(
            database,
            "UPDATE posts SET like_count = :likes, created_at = now() - make_interval(hours => :h),"
            " hot_score = :score WHERE id = :id",
            likes=likes,
            h=hours_ago,
            score=hot_score(created_at=_ago(hours_ago), likes=likes, comments=0, bookmarks=0),
            id=post["id"],
        )
    ranked = [item["id"] for item in await all_pages(client, "/v1/feed/trending", limit=100)]
    assert ranked.index(popular["id"]) < ranked.index(old_popular["id"])
    assert ranked.index(popular["id"]) < ranked.index(quiet["id"])


def _ago(hours: int) -> datetime:
    return datetime.now(UTC) - timedelta(hours=hours)


async def test_posts_others_may_not_read_are_in_no_feed(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User], staff: User
) -> None:
    author, reader, member = make_user("owner"), make_user(), make_user("owner")
    city = f"City-{uuid.uuid4().hex[:8]}"
    circle_id = uuid.uuid4()
    await execute(
        database,
        "INSERT INTO circles (id, name, description, kind, created_by, member_count, created_at,"
        " updated_at) VALUES (:id, :name, '', 'industry', :by, 2, now(), now())",
        id=circle_id,
        name=f"circle {circle_id}",
        by=author.id,
    )
    for user in (author, member):
        await execute(
            database,
            "INSERT INTO circle_members (circle_id, user_id, role, status, created_at, updated_at)"
            " VALUES (:c, :u, 'member', 'active', now(), now())",
            c=circle_id,
            u=user.id,
        )
    for follower in (reader, member):
        await execute(
            database,
            "INSERT INTO follows (follower_id, followee_id, created_at) VALUES (:a, :b, now())",
            a=follower.id,
            b=author.id,
        )
    held = await make_post(client, author, text="held", city=city)
    hidden = await make_post(client, author, text="hidden", city=city)
    await execute(database, "UPDATE posts SET status = 'held' WHERE id = :id", id=held["id"])
    await execute(database, "UPDATE posts SET status = 'hidden' WHERE id = :id", id=hidden["id"])
    insiders = await make_post(
        client, author, text="owners only", city=city, circle_id=str(circle_id)
    )
    assert insiders["members_only"] is True
    unseen = {held["id"], hidden["id"], insiders["id"]}

    for path in (
        "/v1/feed",
        f"/v1/feed/cities/{city}",
        f"/v1/feed/users/{author.id}",
        "/v1/feed/trending",
    ):
        seen = {item["id"] for item in await all_pages(client, path, reader.headers, limit=100)}
        assert not unseen & seen, path
    for post_id in unseen:
        assert (await client.get(f"/v1/posts/{post_id}", headers=reader.headers)).status_code == 404

    member_home = {item["id"] for item in await all_pages(client, "/v1/feed", member.headers, 100)}
    assert insiders["id"] in member_home
    assert not {held["id"], hidden["id"]} & member_home

    own = {
        item["id"]: item["status"]
        for item in await all_pages(client, f"/v1/feed/users/{author.id}", author.headers, 100)
    }
    assert own[held["id"]] == "held"
    assert own[hidden["id"]] == "hidden"
    by_staff = {
        item["id"]
        for item in await all_pages(client, f"/v1/feed/users/{author.id}", staff.headers, 100)
    }
    assert unseen <= by_staff


async def test_a_returning_user_sees_the_latest_posts_first(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User]
) -> None:
    reader, followed = make_user(), make_user()
    await execute(
        database,
        "INSERT INTO follows (follower_id, followee_id, created_at)"
        " VALUES (:a, :b, now() - interval '200 days')",
        a=reader.id,
        b=followed.id,
    )
    old = await make_post(client, followed, text="months ago")
    await execute(
        database,
        "UPDATE posts SET created_at = now() - interval '150 days' WHERE id = :id",
        id=old["id"],
    )
    latest = await make_post(client, followed, text="today")
    page = (await client.get("/v1/feed", params={"limit": 100}, headers=reader.headers)).json()
    ids = [item["id"] for item in page["items"]]
    assert ids.index(latest["id"]) < ids.index(old["id"])
