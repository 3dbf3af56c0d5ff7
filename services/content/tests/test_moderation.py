"""Reports and staff moderation: what may be reported and by whom, the staff queue, verdicts
(one ``report.upheld`` per reporter), the moves of posts and comments and the ones refused,
what each announces and the audit record each leaves."""

import uuid
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import text

from kit.db import Database
from kit.testing.services import outbox_events, rows, scalar
from services.content.tests.support import User, make_post, outbox_types

UPHELD = "content.report.upheld.v1"


async def report(
    client: httpx.AsyncClient, reporter: User, target_id: str, kind: str = "post", **body: Any
) -> httpx.Response:
    payload = {"target_kind": kind, "target_id": target_id, "reason": "spam"} | body
    return await client.post("/v1/reports", json=payload, headers=reporter.headers)


async def resolve(
    client: httpx.AsyncClient, staff: User, target_id: str, verdict: str, kind: str = "post"
) -> httpx.Response:
    body = {"target_kind": kind, "target_id": target_id, "verdict": verdict}
    return await client.post("/v1/moderation/reports/resolve", json=body, headers=staff.headers)


async def moderate(
    client: httpx.AsyncClient, staff: User, post: dict[str, Any], action: str, reason: str = ""
) -> httpx.Response:
    body = {"reason": reason} if reason else None
    url = f"/v1/moderation/posts/{post['id']}/{action}"
    return await client.post(url, json=body, headers=staff.headers)


async def audit_actions(database: Database, subject: object) -> list[tuple[str, uuid.UUID]]:
    found = await rows(
        database,
        "SELECT action, actor_id FROM audit_records WHERE subject_id = :s ORDER BY at, id",
        s=str(subject),
    )
    return [(row.action, row.actor_id) for row in found]


async def report_rows(database: Database, target_id: str) -> int:
    count: int = await scalar(
        database, "SELECT count(*) FROM reports WHERE target_id = :id", id=uuid.UUID(target_id)
    )
    return count


async def queue(client: httpx.AsyncClient, staff: User) -> list[dict[str, Any]]:
    """The whole queue, page by page (two a page)."""
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = await client.get("/v1/moderation/reports", params=params, headers=staff.headers)
        assert page.status_code == 200, page.text
        seen += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return seen


async def make_comment(database: Database, post: dict[str, Any], author: User) -> uuid.UUID:
    """A published comment under ``post``, counted (written directly: comments are another
    module's API)."""
    comment_id = uuid.uuid4()
    async with database.engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO comments (id, post_id, author_id, text, status, created_at,"
                " updated_at) VALUES (:id, :post, :author, 'rude words', 'published', now(),"
                " now())"
            ),
            {"id": comment_id, "post": uuid.UUID(post["id"]), "author": author.id},
        )
        await connection.execute(
            text("UPDATE posts SET comment_count = comment_count + 1 WHERE id = :post"),
            {"post": uuid.UUID(post["id"])},
        )
    return comment_id


async def test_a_report_needs_a_reason_and_writes_nothing_without_one(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User]
) -> None:
    author, reporter = make_user(), make_user()
    post = await make_post(client, author)
    body = {"target_kind": "post", "target_id": post["id"]}
    missing = await client.post("/v1/reports", json=body, headers=reporter.headers)
    assert missing.status_code == 422
    assert missing.headers["content-type"].startswith("application/problem+json")
    for reason in ("", "   ", "x" * 501, "two\nlines"):
        refused = await report(client, reporter, post["id"], reason=reason)
        assert refused.status_code == 422, reason
    assert await report_rows(database, post["id"]) == 0
    assert (await report(client, reporter, post["id"], reason="x" * 500)).status_code == 201


async def test_what_may_be_reported_and_a_second_report_is_the_first(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User], staff: User
) -> None:
    author, reporter = make_user(), make_user()
    post = await make_post(client, author)
    own = await report(client, author, post["id"])
    assert own.status_code == 422
    assert own.json()["type"].endswith("/own-content")
    unknown = await report(client, reporter, str(uuid.uuid4()))
    assert unknown.status_code == 404
    hidden = await make_post(client, author, text="soon hidden")
    assert (await moderate(client, staff, hidden, "hide", "spam")).status_code == 200
    assert (await report(client, reporter, hidden["id"])).status_code == 404

    first = await report(client, reporter, post["id"], reason="spam")
    assert first.status_code == 201, first.text
    assert first.json()["status"] == "open"
    second = await report(client, reporter, post["id"], reason="something else")
    assert second.status_code == 200
    assert second.json() == first.json()
    assert await report_rows(database, post["id"]) == 1

    comment_id = await make_comment(database, post, author)
    comment = await report(client, reporter, str(comment_id), kind="comment")
    assert comment.status_code == 201, comment.text
    assert (await report(client, author, str(comment_id), kind="comment")).status_code == 422
    assert (await report(client, reporter, str(uuid.uuid4()), kind="comment")).status_code == 404


async def test_the_queue_lists_reported_targets_oldest_first(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User], staff: User
) -> None:
    assert (
        await client.get("/v1/moderation/reports", headers=make_user().headers)
    ).status_code == 403
    author = make_user()
    posts = [await make_post(client, author, text=f"reported {n}") for n in range(3)]
    reporters = [make_user() for _ in range(3)]
    await report(client, reporters[0], posts[1]["id"], reason="first")
    await report(client, reporters[0], posts[0]["id"], reason="second")
    await report(client, reporters[1], posts[1]["id"], reason="third")
    await report(client, reporters[2], posts[2]["id"], reason="fourth")

    mine = [item for item in await queue(client, staff) if item["author_id"] == str(author.id)]
    assert [item["target_id"] for item in mine] == [posts[n]["id"] for n in (1, 0, 2)]
    assert mine[0]["report_count"] == 2
    assert mine[0]["reasons"] == ["first", "third"]
    assert mine[0]["target_kind"] == "post"

    dismissed = await resolve(client, staff, posts[1]["id"], "dismissed")
    assert dismissed.status_code == 200, dismissed.text
    assert dismissed.json()["resolved"] == 2
    assert await outbox_events(database, subject=posts[1]["id"], event_type=UPHELD) == []
    assert (await resolve(client, staff, posts[1]["id"], "upheld")).status_code == 404
    remaining = [item for item in await queue(client, staff) if item["author_id"] == str(author.id)]
    assert [item["target_id"] for item in remaining] == [posts[n]["id"] for n in (0, 2)]


async def test_an_upheld_verdict_publishes_one_event_per_reporter(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User], staff: User
) -> None:
    author = make_user()
    post = await make_post(client, author)
    reporters = [make_user() for _ in range(3)]
    for reporter in reporters:
        assert (await report(client, reporter, post["id"])).status_code == 201
    await report(client, reporters[0], post["id"])
    assert (await resolve(client, make_user(), post["id"], "upheld")).status_code == 403

    upheld = await resolve(client, staff, post["id"], "upheld")
    assert upheld.status_code == 200, upheld.text
    assert upheld.json()["resolved"] == 3
    events = await outbox_events(database, subject=post["id"], event_type=UPHELD)
    assert sorted(event.data["reporter_id"] for event in events) == sorted(
        str(reporter.id) for reporter in reporters
    )
    assert {event.data["author_id"] for event in events} == {str(author.id)}
    assert {event.actor for event in events} == {staff.id}
    statuses = await rows(
        database, "SELECT status FROM reports WHERE target_id = :id", id=uuid.UUID(post["id"])
    )
    assert [row.status for row in statuses] == ["upheld"] * 3
    assert await audit_actions(database, post["id"]) == [("moderation.reports.upheld", staff.id)]


async def test_staff_hide_restore_and_remove_a_post(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User], staff: User
) -> None:
    author, reader = make_user(), make_user()
    post = await make_post(client, author, city="Hamburg")
    assert (await moderate(client, author, post, "hide", "spam")).status_code == 403
    assert (await moderate(client, staff, post, "hide")).status_code == 422

    hidden = await moderate(client, staff, post, "hide", "spam")
    assert hidden.status_code == 200, hidden.text
    assert (await client.get(f"/v1/posts/{post['id']}", headers=reader.headers)).status_code == 404
    city = (await client.get("/v1/feed/cities/Hamburg")).json()["items"]
    assert post["id"] not in [item["id"] for item in city]
    assert (await moderate(client, staff, post, "restore")).json()["status"] == "published"
    assert (await moderate(client, staff, post, "restore")).status_code == 409

    removed = await moderate(client, staff, post, "remove", "hate speech")
    assert removed.status_code == 200, removed.text
    assert (await client.get(f"/v1/posts/{post['id']}", headers=reader.headers)).status_code == 404
    seen = (await client.get(f"/v1/posts/{post['id']}", headers=author.headers)).json()
    assert (seen["status"], seen["moderation_reason"]) == ("removed", "hate speech")
    for action in ("restore", "release", "hide", "feature", "pin"):
        refused = await moderate(client, staff, post, action, "again")
        assert refused.status_code == 409, action
        assert refused.json()["type"].endswith("/illegal-transition")
    assert (await moderate(client, staff, post, "remove", "again")).status_code == 409

    assert await outbox_types(database, post["id"]) == [
        "content.post.published.v1",
        "content.post.removed.v1",
    ]
    (removal,) = await outbox_events(
        database, subject=post["id"], event_type="content.post.removed.v1"
    )
    assert removal.data["reason"] == "moderation"
    assert removal.data["removed_by"] == str(staff.id)
    assert await audit_actions(database, post["id"]) == [
        ("moderation.post.hide", staff.id),
        ("moderation.post.restore", staff.id),
        ("moderation.post.remove", staff.id),
    ]
    missing = await client.post(
        f"/v1/moderation/posts/{uuid.uuid4()}/restore", headers=staff.headers
    )
    assert missing.status_code == 404


async def test_feature_once_and_pin(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User], staff: User
) -> None:
    author = make_user()
    post = await make_post(client, author)
    assert (await moderate(client, staff, post, "release")).status_code == 409
    for _ in range(2):
        featured = await moderate(client, staff, post, "feature")
        assert featured.status_code == 200, featured.text
        assert featured.json()["featured"] is True
    feed = (await client.get("/v1/feed/featured", params={"limit": 100})).json()["items"]
    assert post["id"] in [item["id"] for item in feed]
    assert await outbox_types(database, post["id"]) == [
        "content.post.published.v1",
        "content.post.featured.v1",
    ]

    assert (await moderate(client, staff, post, "pin")).json()["pinned"] is True
    pinned = (await client.get("/v1/posts/pinned")).json()
    assert post["id"] in [item["id"] for item in pinned]
    assert (await moderate(client, staff, post, "unpin")).json()["pinned"] is False
    assert post["id"] not in [item["id"] for item in (await client.get("/v1/posts/pinned")).json()]
    assert [action for action, _ in await audit_actions(database, post["id"])] == [
        "moderation.post.feature",
        "moderation.post.feature",
        "moderation.post.pin",
        "moderation.post.unpin",
    ]


async def test_staff_moderate_comments(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User], staff: User
) -> None:
    author, commenter = make_user(), make_user()
    post = await make_post(client, author)
    comment_id = await make_comment(database, post, commenter)

    def url(action: str) -> str:
        return f"/v1/moderation/comments/{comment_id}/{action}"

    assert (await client.post(url("restore"), headers=commenter.headers)).status_code == 403
    hidden = await client.post(url("hide"), json={"reason": "rude"}, headers=staff.headers)
    assert hidden.status_code == 200, hidden.text
    assert (hidden.json()["status"], hidden.json()["moderation_reason"]) == ("hidden", "rude")
    assert (
        await client.post(url("hide"), json={"reason": "x"}, headers=staff.headers)
    ).status_code == 409
    assert (await client.post(url("restore"), headers=staff.headers)).json()[
        "status"
    ] == "published"

    removed = await client.post(url("remove"), json={"reason": "rude"}, headers=staff.headers)
    assert removed.status_code == 200, removed.text
    assert removed.json()["status"] == "removed"
    assert (await client.post(url("restore"), headers=staff.headers)).status_code == 409
    assert (await client.get(f"/v1/posts/{post['id']}")).json()["comment_count"] == 0
    (event,) = await outbox_events(
        database, subject=post["id"], event_type="content.comment.removed.v1"
    )
    assert event.data["comment_id"] == str(comment_id)
    assert event.data["reason"] == "moderation"
    assert [action for action, _ in await audit_actions(database, comment_id)] == [
        "moderation.comment.hide",
        "moderation.comment.restore",
        "moderation.comment.remove",
    ]
