"""Comments with one level of replies: writing, listing oldest first, deleting (a comment
with replies stays as a placeholder), who sees hidden ones, comment likes, and bad input
that writes nothing."""

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from kit.db import Database
from kit.testing.services import rows, scalar
from services.content.models import COMMENT_MAX
from services.content.tests.support import User, make_post, outbox_types


async def comment(
    client: httpx.AsyncClient, post: dict[str, Any], author: User, **body: Any
) -> dict[str, Any]:
    """A comment by ``author`` on ``post`` (201 asserted)."""
    created = await client.post(
        f"/v1/posts/{post['id']}/comments",
        json={"text": "Lovely view", **body},
        headers=author.headers,
    )
    assert created.status_code == 201, created.text
    assert created.headers["Location"] == f"/v1/comments/{created.json()['id']}"
    found: dict[str, Any] = created.json()
    return found


async def counts(database: Database, post_id: str) -> tuple[int, int]:
    """``posts.comment_count`` and the comments of the post neither deleted nor removed."""
    counter = await scalar(database, "SELECT comment_count FROM posts WHERE id = :id", id=post_id)
    counted = await scalar(
        database,
        "SELECT count(*) FROM comments WHERE post_id = :id"
        " AND status NOT IN ('deleted', 'removed')",
        id=post_id,
    )
    return counter, counted


async def test_comments_and_replies_are_listed_oldest_first_and_counted(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User]
) -> None:
    author, first, second = make_user(), make_user(), make_user()
    post = await make_post(client, author)
    top = [await comment(client, post, first, text=f"comment {n}") for n in range(3)]
    reply = await comment(client, post, second, text="a reply", parent_id=top[0]["id"])
    assert reply["parent_id"] == top[0]["id"]
    assert reply["author"]["id"] == str(second.id)
    liked = await client.put(f"/v1/comments/{top[0]['id']}/like", headers=second.headers)
    assert liked.json() == {"liked": True, "like_count": 1}

    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = await client.get(
            f"/v1/posts/{post['id']}/comments", params=params, headers=second.headers
        )
        assert page.status_code == 200, page.text
        seen += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert [item["id"] for item in seen] == [item["id"] for item in top]
    assert (seen[0]["reply_count"], seen[0]["like_count"]) == (1, 1)
    assert seen[0]["viewer"] == {"liked": True}
    assert seen[1]["viewer"] == {"liked": False}

    replies = (await client.get(f"/v1/comments/{top[0]['id']}/replies")).json()
    assert [item["text"] for item in replies["items"]] == ["a reply"]
    assert await counts(database, post["id"]) == (4, 4)
    assert (await client.get(f"/v1/posts/{post['id']}")).json()["comment_count"] == 4
    assert await outbox_types(database, post["id"]) == [
        "content.post.published.v1",
        *["content.comment.created.v1"] * 4,
    ]


async def test_liking_a_comment_twice_is_one_like(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User]
) -> None:
    author, fan = make_user(), make_user()
    post = await make_post(client, author)
    written = await comment(client, post, author)
    for _ in range(2):
        liked = await client.put(f"/v1/comments/{written['id']}/like", headers=fan.headers)
        assert liked.json() == {"liked": True, "like_count": 1}
    for _ in range(2):
        unliked = await client.delete(f"/v1/comments/{written['id']}/like", headers=fan.headers)
        assert unliked.status_code == 204
    assert (
        await scalar(database, "SELECT like_count FROM comments WHERE id = :id", id=written["id"])
        == 0
    )
    assert (
        await scalar(
            database, "SELECT count(*) FROM comment_likes WHERE comment_id = :id", id=written["id"]
        )
        == 0
    )


async def test_a_post_the_caller_may_not_read_takes_no_comment(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User]
) -> None:
    author, other = make_user(), make_user()
    post = await make_post(client, author)
    assert (
        await client.delete(f"/v1/posts/{post['id']}", headers=author.headers)
    ).status_code == 204
    refused = await client.post(
        f"/v1/posts/{post['id']}/comments", json={"text": "hello?"}, headers=other.headers
    )
    assert refused.status_code == 404, refused.text
    assert (await client.get(f"/v1/posts/{post['id']}/comments")).status_code == 404
    assert await counts(database, post["id"]) == (0, 0)


async def test_a_reply_to_a_reply_is_refused_and_writes_nothing(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User]
) -> None:
    author = make_user()
    post, elsewhere = await make_post(client, author), await make_post(client, author)
    top = await comment(client, post, author)
    reply = await comment(client, post, author, parent_id=top["id"])
    other_post_comment = await comment(client, elsewhere, author)
    for parent, code in (
        (reply["id"], "reply-to-reply"),
        (other_post_comment["id"], "unknown-parent"),
        ("01900000-0000-7000-8000-000000000000", "unknown-parent"),
    ):
        refused = await client.post(
            f"/v1/posts/{post['id']}/comments",
            json={"text": "deeper", "parent_id": parent},
            headers=author.headers,
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["type"].endswith(code)
    assert await counts(database, post["id"]) == (2, 2)
    assert (
        await scalar(database, "SELECT reply_count FROM comments WHERE id = :id", id=top["id"]) == 1
    )


@pytest.mark.parametrize(
    "body",
    [
        {"text": ""},
        {"text": "   \n\t "},
        {"text": "x" * (COMMENT_MAX + 1)},
        {"text": "nul \x00 inside"},
        {},
        {"text": "fine", "author_id": "01900000-0000-7000-8000-000000000000"},
    ],
    ids=["empty", "blank", "oversized", "control", "missing", "unknown-field"],
)
async def test_bad_comments_are_refused_and_write_nothing(
    client: httpx.AsyncClient,
    database: Database,
    make_user: Callable[..., User],
    body: dict[str, Any],
) -> None:
    author = make_user()
    post = await make_post(client, author)
    refused = await client.post(
        f"/v1/posts/{post['id']}/comments", json=body, headers=author.headers
    )
    assert refused.status_code == 422, refused.text
    assert await counts(database, post["id"]) == (0, 0)
    assert await outbox_types(database, post["id"]) == ["content.post.published.v1"]


async def test_only_its_author_deletes_a_comment_and_a_thread_reads_on(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User], staff: User
) -> None:
    author, replier, other = make_user(), make_user(), make_user()
    post = await make_post(client, author)
    top = await comment(client, post, author, text="the question")
    await comment(client, post, replier, text="the answer", parent_id=top["id"])
    lonely = await comment(client, post, author, text="nobody answered")

    assert (
        await client.delete(f"/v1/comments/{top['id']}", headers=other.headers)
    ).status_code == 404
    assert (
        await client.delete(f"/v1/comments/{top['id']}", headers=staff.headers)
    ).status_code == 403
    for deleted in (top, lonely):
        assert (
            await client.delete(f"/v1/comments/{deleted['id']}", headers=author.headers)
        ).status_code == 204
    assert (
        await client.delete(f"/v1/comments/{top['id']}", headers=author.headers)
    ).status_code == 404

    listed = (await client.get(f"/v1/posts/{post['id']}/comments")).json()["items"]
    assert len(listed) == 1, "the comment without replies is gone"
    placeholder = listed[0]
    assert placeholder["id"] == top["id"]
    assert (placeholder["status"], placeholder["text"], placeholder["author"]) == (
        "deleted",
        "",
        None,
    )
    replies = (await client.get(f"/v1/comments/{top['id']}/replies")).json()["items"]
    assert [item["text"] for item in replies] == ["the answer"]
    assert await counts(database, post["id"]) == (1, 1)
    assert await scalar(database, "SELECT text FROM comments WHERE id = :id", id=top["id"]) == ""
    removed = await rows(
        database,
        "SELECT data->>'comment_id', data->>'reason' FROM outbox "
        "WHERE key = :key AND type = 'content.comment.removed.v1' ORDER BY position",
        key=post["id"],
    )
    assert [tuple(row) for row in removed] == [(top["id"], "author"), (lonely["id"], "author")]


async def test_hidden_comments_are_shown_to_their_author_and_staff_only(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User], staff: User
) -> None:
    author, other = make_user(), make_user()
    post = await make_post(client, author)
    hidden = await comment(client, post, author, text="borderline")
    async with database.engine.begin() as connection:
        await connection.execute(
            text(
                "UPDATE comments SET status = 'hidden', moderation_reason = 'spam' WHERE id = :id"
            ),
            {"id": hidden["id"]},
        )
    for viewer, sees in ((author, True), (staff, True), (other, False), (None, False)):
        headers = viewer.headers if viewer else {}
        listed = await client.get(f"/v1/posts/{post['id']}/comments", headers=headers)
        one = await client.get(f"/v1/comments/{hidden['id']}", headers=headers)
        if sees:
            assert [item["status"] for item in listed.json()["items"]] == ["hidden"]
            assert one.json()["moderation_reason"] == "spam"
        else:
            assert listed.json()["items"] == []
            assert one.status_code == 404
    refused = await client.post(
        f"/v1/posts/{post['id']}/comments",
        json={"text": "reply", "parent_id": hidden["id"]},
        headers=author.headers,
    )
    assert refused.status_code == 422
    assert refused.json()["type"].endswith("parent-not-published")
    assert (
        await client.put(f"/v1/comments/{hidden['id']}/like", headers=other.headers)
    ).status_code == 404


async def test_comments_written_at_once_are_all_counted(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User]
) -> None:
    author = make_user()
    post = await make_post(client, author)
    top = await comment(client, post, author)
    crowd = [make_user() for _ in range(40)]
    responses = await asyncio.gather(
        *(
            client.post(
                f"/v1/posts/{post['id']}/comments",
                json={"text": "me too", **({"parent_id": top["id"]} if n % 2 else {})},
                headers=user.headers,
            )
            for n, user in enumerate(crowd)
        )
    )
    assert {response.status_code for response in responses} == {201}
    assert await counts(database, post["id"]) == (41, 41)
    replies = await scalar(
        database, "SELECT count(*) FROM comments WHERE parent_id = :id", id=top["id"]
    )
    assert replies == 20
    assert (
        await scalar(database, "SELECT reply_count FROM comments WHERE id = :id", id=top["id"])
        == replies
    )


async def test_a_post_not_published_takes_no_engagement(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User]
) -> None:
    """Others may not read a held post (404); its author may, but it takes nothing (409)."""
    author, other = make_user(), make_user()
    post = await make_post(client, author)
    async with database.engine.begin() as connection:
        await connection.execute(
            text("UPDATE posts SET status = 'held' WHERE id = :id"), {"id": post["id"]}
        )
    for user, status in ((other, 404), (author, 409)):
        for method, path, body in (
            ("POST", "comments", {"text": "hello"}),
            ("PUT", "like", None),
            ("PUT", "bookmark", None),
        ):
            refused = await client.request(
                method, f"/v1/posts/{post['id']}/{path}", json=body, headers=user.headers
            )
            assert refused.status_code == status, (path, refused.text)
    assert await counts(database, post["id"]) == (0, 0)
    assert await outbox_types(database, post["id"]) == ["content.post.published.v1"]


async def test_a_removed_comment_leaves_the_counts_once(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User], staff: User
) -> None:
    author, commenter = make_user(), make_user()
    post = await make_post(client, author)
    top = await comment(client, post, commenter)
    reply = await comment(client, post, commenter, parent_id=top["id"])
    await comment(client, post, author)
    assert await counts(database, post["id"]) == (3, 3)

    removed = await client.post(
        f"/v1/moderation/comments/{reply['id']}/remove",
        json={"reason": "spam"},
        headers=staff.headers,
    )
    assert removed.status_code == 200, removed.text
    assert await counts(database, post["id"]) == (2, 2)
    deleted = await client.delete(f"/v1/comments/{reply['id']}", headers=commenter.headers)
    assert deleted.status_code == 204, deleted.text
    assert await counts(database, post["id"]) == (2, 2)
    assert (
        await scalar(database, "SELECT reply_count FROM comments WHERE id = :id", id=top["id"]) == 0
    )
