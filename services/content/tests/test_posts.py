"""Posts: writing, reading, editing within the window with its history, deleting; who may
do each; what each publishes."""

from collections.abc import Callable

import httpx
from sqlalchemy import text

from kit.db import Database
from kit.testing.services import scalar
from services.content.tests.support import User, make_post, outbox_types


async def test_a_post_is_published_read_and_announced(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User]
) -> None:
    author = make_user()
    text = "<script>alert(1)</script> & <b>not bold</b>\nsecond line"
    post = await make_post(client, author, text=text, tags=["Trip", "trip", "lake"], city="Munich")
    assert post["text"] == text
    assert post["tags"] == ["Trip", "lake"]
    assert post["status"] == "published"
    assert post["viewer"] == {"liked": False, "bookmarked": False}

    anonymous = await client.get(f"/v1/posts/{post['id']}")
    assert anonymous.status_code == 200
    assert anonymous.headers["content-type"].startswith("application/json")
    assert anonymous.json()["text"] == text
    assert await outbox_types(database, post["id"]) == ["content.post.published.v1"]
    assert (
        await scalar(database, "SELECT count(*) FROM post_tags WHERE post_id = :id", id=post["id"])
        == 2
    )


async def test_only_the_author_edits_and_the_history_is_kept(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User], staff: User
) -> None:
    author, other = make_user(), make_user()
    post = await make_post(client, author, text="first")
    for intruder in (other, staff):
        refused = await client.patch(
            f"/v1/posts/{post['id']}", json={"text": "hijacked"}, headers=intruder.headers
        )
        assert refused.status_code in (403, 404), refused.text
    edited = await client.patch(
        f"/v1/posts/{post['id']}", json={"text": "second"}, headers=author.headers
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["text"] == "second"
    assert edited.json()["edited_at"] is not None
    history = (await client.get(f"/v1/posts/{post['id']}/edits")).json()
    assert [edit["text"] for edit in history] == ["first"]
    assert await outbox_types(database, post["id"]) == [
        "content.post.published.v1",
        "content.post.updated.v1",
    ]


async def test_a_deleted_post_is_gone_for_everyone(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User]
) -> None:
    author, other = make_user(), make_user()
    post = await make_post(client, author)
    assert (
        await client.delete(f"/v1/posts/{post['id']}", headers=other.headers)
    ).status_code == 404
    assert (
        await client.delete(f"/v1/posts/{post['id']}", headers=author.headers)
    ).status_code == 204
    for viewer in (author, other):
        assert (
            await client.get(f"/v1/posts/{post['id']}", headers=viewer.headers)
        ).status_code == 404
    assert await scalar(database, "SELECT text FROM posts WHERE id = :id", id=post["id"]) == ""
    assert (await outbox_types(database, post["id"]))[-1] == "content.post.removed.v1"


async def test_the_home_feed_merges_follows_circles_own_and_official_posts(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User], staff: User
) -> None:
    reader, followed, stranger = make_user(), make_user(), make_user()
    async with database.engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO follows (follower_id, followee_id, created_at) VALUES (:a, :b, now())"
            ),
            {"a": reader.id, "b": followed.id},
        )
    mine = await make_post(client, reader, text="mine")
    theirs = [await make_post(client, followed, text=f"followed {n}") for n in range(3)]
    unrelated = await make_post(client, stranger, text="stranger")
    news = await make_post(client, staff, text="brand news", official=True)

    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/feed", params=params, headers=reader.headers)).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    expected = [post["id"] for post in (mine, *theirs)]
    assert set(expected) <= set(seen)
    assert news["id"] in seen
    assert unrelated["id"] not in seen
    positions = [seen.index(post_id) for post_id in reversed(expected)]
    assert positions == sorted(positions), "newest first"
