"""Likes and bookmarks of posts: idempotent, counted by the database however many arrive
at once, one event per effective like, only on posts the caller may read."""

import asyncio
from collections.abc import Callable

import httpx

from kit.db import Database
from kit.testing.services import scalar
from services.content.tests.support import User, make_post, outbox_types

CROWD = 200


async def likes_of(database: Database, post_id: str) -> tuple[int, int]:
    """``posts.like_count`` and the like rows of the post."""
    counter = await scalar(database, "SELECT like_count FROM posts WHERE id = :id", id=post_id)
    counted = await scalar(
        database, "SELECT count(*) FROM post_likes WHERE post_id = :id", id=post_id
    )
    return counter, counted


async def test_liking_twice_is_one_like_and_one_event(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User]
) -> None:
    author, fan = make_user(), make_user()
    post = await make_post(client, author)
    for _ in range(2):
        liked = await client.put(f"/v1/posts/{post['id']}/like", headers=fan.headers)
        assert liked.status_code == 200, liked.text
        assert liked.json() == {"liked": True, "like_count": 1}
    assert await likes_of(database, post["id"]) == (1, 1)
    seen = (await client.get(f"/v1/posts/{post['id']}", headers=fan.headers)).json()
    assert seen["like_count"] == 1
    assert seen["viewer"]["liked"] is True

    for _ in range(2):
        unliked = await client.delete(f"/v1/posts/{post['id']}/like", headers=fan.headers)
        assert unliked.status_code == 204
    assert await likes_of(database, post["id"]) == (0, 0)
    assert await outbox_types(database, post["id"]) == [
        "content.post.published.v1",
        "content.post.liked.v1",
        "content.post.unliked.v1",
    ]


async def test_unliking_what_was_never_liked_changes_nothing(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User]
) -> None:
    author, stranger = make_user(), make_user()
    post = await make_post(client, author)
    unliked = await client.delete(f"/v1/posts/{post['id']}/like", headers=stranger.headers)
    assert unliked.status_code == 204
    assert await likes_of(database, post["id"]) == (0, 0)
    assert await outbox_types(database, post["id"]) == ["content.post.published.v1"]


async def test_a_crowd_liking_and_unliking_at_once_is_counted_exactly(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User]
) -> None:
    author = make_user()
    post = await make_post(client, author)
    crowd = [make_user() for _ in range(CROWD)]
    url = f"/v1/posts/{post['id']}/like"

    async def press(index: int, fan: User) -> list[int]:
        """Everyone likes; every third likes twice; every other one takes it back."""
        statuses = [(await client.put(url, headers=fan.headers)).status_code]
        if index % 3 == 0:
            statuses.append((await client.put(url, headers=fan.headers)).status_code)
        if index % 2 == 0:
            statuses.append((await client.delete(url, headers=fan.headers)).status_code)
        return statuses

    results = await asyncio.gather(*(press(index, fan) for index, fan in enumerate(crowd)))

    assert {status for statuses in results for status in statuses} <= {200, 204}
    counter, counted = await likes_of(database, post["id"])
    assert counter == counted == CROWD // 2
    types = await outbox_types(database, post["id"])
    assert types.count("content.post.liked.v1") == CROWD, "one event per effective like"
    assert types.count("content.post.unliked.v1") == CROWD // 2
    likers = await scalar(
        database,
        "SELECT count(DISTINCT data->>'user_id') FROM outbox "
        "WHERE key = :key AND type = 'content.post.liked.v1'",
        key=post["id"],
    )
    assert likers == CROWD
    last = await scalar(
        database,
        "SELECT (data->>'like_count')::int FROM outbox WHERE key = :key "
        "AND type IN ('content.post.liked.v1', 'content.post.unliked.v1') "
        "ORDER BY position DESC LIMIT 1",
        key=post["id"],
    )
    assert last == counter, "the last event carries the final count"


async def test_a_post_the_caller_may_not_read_takes_no_like(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User]
) -> None:
    author, fan = make_user(), make_user()
    post = await make_post(client, author)
    assert (
        await client.delete(f"/v1/posts/{post['id']}", headers=author.headers)
    ).status_code == 204
    for method in ("PUT", "DELETE"):
        for path in ("like", "bookmark"):
            refused = await client.request(
                method, f"/v1/posts/{post['id']}/{path}", headers=fan.headers
            )
            assert refused.status_code == 404, refused.text
            assert refused.headers["content-type"].startswith("application/problem+json")
    assert await likes_of(database, post["id"]) == (0, 0)
    assert (await client.put(f"/v1/posts/{post['id']}/like", headers={})).status_code == 401


async def test_bookmarking_twice_is_one_bookmark_listed_among_mine(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User]
) -> None:
    author, reader = make_user(), make_user()
    first, second = await make_post(client, author), await make_post(client, author)
    for post in (first, second, second):
        saved = await client.put(f"/v1/posts/{post['id']}/bookmark", headers=reader.headers)
        assert saved.status_code == 200, saved.text
        assert saved.json() == {"bookmarked": True, "bookmark_count": 1}
    assert (
        await scalar(
            database, "SELECT count(*) FROM bookmarks WHERE post_id = :id", id=second["id"]
        )
        == 1
    )
    mine = (await client.get("/v1/me/bookmarks", headers=reader.headers)).json()
    assert [item["id"] for item in mine["items"]] == [second["id"], first["id"]]
    assert all(item["viewer"]["bookmarked"] for item in mine["items"])

    for _ in range(2):
        removed = await client.delete(f"/v1/posts/{second['id']}/bookmark", headers=reader.headers)
        assert removed.status_code == 204
    assert (
        await scalar(database, "SELECT bookmark_count FROM posts WHERE id = :id", id=second["id"])
        == 0
    )
    mine = (await client.get("/v1/me/bookmarks", headers=reader.headers)).json()
    assert [item["id"] for item in mine["items"]] == [first["id"]]
    assert (await client.get("/v1/me/bookmarks")).status_code == 401


async def test_engagement_moves_the_trending_score(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User]
) -> None:
    author, fan = make_user(), make_user()
    post = await make_post(client, author)
    before = await scalar(database, "SELECT hot_score FROM posts WHERE id = :id", id=post["id"])
    await client.put(f"/v1/posts/{post['id']}/bookmark", headers=fan.headers)
    await client.put(f"/v1/posts/{post['id']}/like", headers=fan.headers)
    after = await scalar(database, "SELECT hot_score FROM posts WHERE id = :id", id=post["id"])
    assert after > before
