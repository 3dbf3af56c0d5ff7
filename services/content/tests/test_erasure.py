"""A deleted account (``identity.user.deleted.v1``): its posts and comments erased, its
likes, bookmarks, follows and circle memberships dropped with every count corrected, the
removals others could see announced; a second delivery changes nothing."""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import select, text

from contracts.identity import UserDeleted
from kit.bus.envelope import Envelope
from kit.db import Database
from kit.testing.services import rows, scalar
from services.content.consumers import on_user_deleted
from services.content.models import METADATA
from services.content.tests.support import User, make_post

TABLES = (
    "posts",
    "post_tags",
    "comments",
    "post_likes",
    "comment_likes",
    "bookmarks",
    "follows",
    "members",
    "circles",
    "circle_members",
    "outbox",
)


async def delete_account(database: Database, user: User, deleted_at: datetime) -> None:
    """Deliver identity's deletion of ``user`` to content's handler, as the consumer does."""
    payload = UserDeleted(user_id=user.id, deleted_at=deleted_at)
    envelope = Envelope(
        type=payload.event_type,
        source="identity",
        subject=str(user.id),
        data=payload.model_dump(mode="json"),
    )
    async with database.transaction() as session:
        await on_user_deleted(session, payload, envelope)


async def snapshot(database: Database) -> dict[str, list[Any]]:
    """Every row of the tables an erasure touches, in key order."""
    found = {}
    async with database.engine.connect() as connection:
        for name in TABLES:
            table = METADATA.tables[name]
            query = select(table).order_by(*table.primary_key.columns)
            found[name] = [tuple(row) for row in (await connection.execute(query)).all()]
    return found


async def created(client: httpx.AsyncClient, path: str, user: User, **body: Any) -> str:
    response = await client.post(path, json={"text": "hi", **body}, headers=user.headers)
    assert response.status_code == 201, response.text
    found: str = response.json()["id"]
    return found


async def circle_with(database: Database, members: dict[uuid.UUID, str]) -> uuid.UUID:
    """A circle whose ``members`` are active or pending (written as the circles code would)."""
    circle_id = uuid.uuid4()
    active = sum(status == "active" for status in members.values())
    async with database.engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO circles (id, name, description, kind, created_by, member_count, "
                "created_at, updated_at) VALUES (:id, :name, '', 'interest', :by, :count, "
                "now(), now())"
            ),
            {"id": circle_id, "name": f"circle {circle_id}", "by": uuid.uuid4(), "count": active},
        )
        for member, status in members.items():
            await connection.execute(
                text(
                    "INSERT INTO circle_members (circle_id, user_id, role, status, created_at, "
                    "updated_at) VALUES (:c, :u, 'member', :s, now(), now())"
                ),
                {"c": circle_id, "u": member, "s": status},
            )
    return circle_id


async def row_of(database: Database, name: str, key: Any) -> dict[str, Any]:
    """The row of table ``name`` whose (one-column) primary key is ``key``."""
    table = METADATA.tables[name]
    (column,) = table.primary_key.columns
    async with database.engine.connect() as connection:
        found = (await connection.execute(select(table).where(column == key))).one()
    return dict(found._mapping)


async def test_a_deleted_account_is_erased_counts_corrected_and_a_replay_changes_nothing(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User]
) -> None:
    gone, author, replier, saver = make_user(), make_user(), make_user(), make_user()
    own = await make_post(client, gone, text="my car", tags=["mine"])
    second_post = await make_post(client, gone, text="second")
    others = await make_post(client, author, text="their car")
    on_own = f"/v1/posts/{own['id']}"
    on_others = f"/v1/posts/{others['id']}"

    await client.put(f"{on_own}/like", headers=author.headers)
    await client.put(f"{on_own}/like", headers=gone.headers)
    await client.put(f"{on_own}/bookmark", headers=saver.headers)
    await created(client, f"{on_own}/comments", replier)
    question = await created(client, f"{on_others}/comments", gone, text="question")
    answer = await created(client, f"{on_others}/comments", replier, parent_id=question)
    await created(client, f"{on_others}/comments", gone, text="thanks", parent_id=question)
    lonely = await created(client, f"{on_others}/comments", gone, text="nobody answers")
    await client.put(f"{on_others}/like", headers=gone.headers)
    await client.put(f"{on_others}/like", headers=saver.headers)
    await client.put(f"{on_others}/bookmark", headers=gone.headers)
    await client.put(f"/v1/comments/{answer}/like", headers=gone.headers)
    await client.put(f"/v1/profiles/{author.id}/follow", headers=gone.headers)
    await client.put(f"/v1/profiles/{gone.id}/follow", headers=replier.headers)
    joined = await circle_with(database, {gone.id: "active", saver.id: "active"})
    asked = await circle_with(database, {gone.id: "pending"})
    async with database.engine.begin() as connection:
        await connection.execute(
            text(
                "UPDATE members SET display_name = 'Gone Person', city = 'Oslo' WHERE user_id = :u"
            ),
            {"u": gone.id},
        )
    outbox_before = await scalar(database, "SELECT max(position) FROM outbox")

    await delete_account(database, gone, datetime.now(UTC))

    for post in (own, second_post):
        erased = await row_of(database, "posts", post["id"])
        assert (erased["status"], erased["text"], erased["tags"]) == ("deleted", "", [])
        assert (await client.get(f"/v1/posts/{post['id']}")).status_code == 404
    assert (
        await scalar(database, "SELECT count(*) FROM post_tags WHERE post_id = :id", id=own["id"])
        == 0
    )
    own_row = await row_of(database, "posts", own["id"])
    assert (own_row["like_count"], own_row["bookmark_count"]) == (1, 1), "others' stay"

    theirs = await row_of(database, "posts", others["id"])
    assert (theirs["like_count"], theirs["bookmark_count"], theirs["comment_count"]) == (1, 0, 1)
    listed = (await client.get(f"{on_others}/comments")).json()["items"]
    assert [(item["id"], item["status"], item["text"], item["author"]) for item in listed] == [
        (question, "deleted", "", None)
    ], "a deleted comment with a reply stays as a placeholder; the one without goes"
    replies = (await client.get(f"/v1/comments/{question}/replies")).json()["items"]
    assert [item["id"] for item in replies] == [answer]
    assert listed[0]["reply_count"] == 1
    assert (await row_of(database, "comments", answer))["like_count"] == 0
    assert (await row_of(database, "comments", lonely))["text"] == ""
    leftovers = await scalar(
        database,
        "SELECT (SELECT count(*) FROM post_likes WHERE user_id = :u) "
        "+ (SELECT count(*) FROM comment_likes WHERE user_id = :u) "
        "+ (SELECT count(*) FROM bookmarks WHERE user_id = :u) "
        "+ (SELECT count(*) FROM follows WHERE follower_id = :u OR followee_id = :u) "
        "+ (SELECT count(*) FROM circle_members WHERE user_id = :u) "
        "+ (SELECT count(*) FROM comments WHERE author_id = :u AND text <> '')",
        u=gone.id,
    )
    assert leftovers == 0

    member = await row_of(database, "members", gone.id)
    assert (member["display_name"], member["city"]) == (None, None)
    assert member["deleted_at"] is not None
    assert (member["post_count"], member["follower_count"], member["following_count"]) == (0, 0, 0)
    assert (await client.get(f"/v1/profiles/{gone.id}")).status_code == 404
    assert (await client.get(f"/v1/profiles/{author.id}")).json()["follower_count"] == 0
    assert (await client.get(f"/v1/profiles/{replier.id}")).json()["following_count"] == 0
    assert (await row_of(database, "circles", joined))["member_count"] == 1
    assert (await row_of(database, "circles", asked))["member_count"] == 0

    published = await rows(
        database,
        "SELECT type, key FROM outbox WHERE position > :p ORDER BY position",
        p=outbox_before,
    )
    announced = sorted((row.type, row.key) for row in published)
    assert announced == sorted(
        [
            ("content.post.removed.v1", own["id"]),
            ("content.post.removed.v1", second_post["id"]),
            ("content.comment.removed.v1", others["id"]),
            ("content.comment.removed.v1", others["id"]),
            ("content.comment.removed.v1", others["id"]),
            ("content.post.unliked.v1", others["id"]),
            ("content.user.unfollowed.v1", str(author.id)),
            ("content.user.unfollowed.v1", str(gone.id)),
            ("content.circle.membership_changed.v1", str(joined)),
            ("content.circle.membership_changed.v1", str(asked)),
        ]
    ), "no unlike is announced for the erased post's own like"
    reasons = await scalar(
        database,
        "SELECT count(*) FROM outbox WHERE position > :p AND type LIKE '%.removed.v1' "
        "AND data->>'reason' = 'account_deleted' AND actor_id IS NULL",
        p=outbox_before,
    )
    assert reasons == 5

    before = await snapshot(database)
    await delete_account(database, gone, datetime.now(UTC))
    assert await snapshot(database) == before
