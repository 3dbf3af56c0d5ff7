"""Post search: every word of ``q`` (any case, any script) and the tag, only what the caller
may read, newest first, cursor paged; on PostgreSQL a word comes from the trigram index."""

import uuid
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import asyncpg

from kit.api.pagination import PageParams
from kit.db import Database
from services.content.service import access
from services.content.service.feeds import NEWEST, viewed
from services.content.service.search import matching
from services.content.tests.support import User, make_post


async def search(
    client: httpx.AsyncClient, user: User | None = None, /, **params: Any
) -> httpx.Response:
    return await client.get(
        "/v1/search/posts", params=params, headers=user.headers if user else None
    )


async def found(client: httpx.AsyncClient, user: User | None = None, /, **params: Any) -> list[str]:
    answer = await search(client, user, **params)
    assert answer.status_code == 200, answer.text
    return [post["text"] for post in answer.json()["items"]]


async def hide(database: Database, post: dict[str, Any], status: str) -> None:
    async with database.engine.begin() as connection:
        await connection.execute(
            text("UPDATE posts SET status = :status WHERE id = :id"),
            {"status": status, "id": uuid.UUID(post["id"])},
        )


async def test_search_finds_every_word_and_the_tag_newest_first(
    client: httpx.AsyncClient, make_user: Callable[..., User]
) -> None:
    author = make_user()
    marker, tag = f"m{uuid.uuid4().hex[:10]}", f"t{uuid.uuid4().hex[:10]}"
    lake = f"{marker} Sunset drive along the LAKE"
    sunrise = f"{marker} sunrise drive, 100% electric"
    quiet = f"{marker} a quiet morning"
    await make_post(client, author, text=lake, tags=[tag])
    await make_post(client, author, text=sunrise)
    await make_post(client, author, text=quiet, tags=[tag])

    assert await found(client, q=f"{marker} DRIVE") == [sunrise, lake]
    assert await found(client, q=f"lake  {marker.upper()}  drive") == [lake]
    assert await found(client, tag=tag) == [quiet, lake]
    assert await found(client, q=f"{marker} drive", tag=tag) == [lake]
    assert await found(client, q=f"{marker} 100%") == [sunrise]
    assert await found(client, q=f"{marker} 1_0%") == [], "wildcards are literal"
    assert await found(client, q=f"{marker} drive", tag=tag.upper()) == [], "tags are exact"
    assert await found(client, author, q=f"{marker} nowhere") == []

    for bad in ({}, {"q": "   "}, {"q": ""}, {"q": "x" * 101}, {"q": "a\x00b"}, {"tag": "a b"}):
        answer = await search(client, **bad)
        assert answer.status_code == 422, (bad, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")


async def test_search_finds_chinese_text_by_its_substrings(
    client: httpx.AsyncClient, make_user: Callable[..., User]
) -> None:
    author = make_user()
    marker = f"m{uuid.uuid4().hex[:10]}"
    station = f"{marker} 蔚来 车主 上海 换电站"
    await make_post(client, author, text=station)
    await make_post(client, author, text=f"{marker} 我在上海的换电站遇到了车主")

    assert await found(client, q=f"{marker} 换电站 车主") == [
        f"{marker} 我在上海的换电站遇到了车主",
        station,
    ]
    assert await found(client, q=f"{marker} 蔚来") == [station]
    assert await found(client, q=f"{marker} 电") != []
    assert await found(client, q=f"{marker} 上海换") == [], "a substring, not scattered characters"


async def test_search_shows_held_and_hidden_posts_only_to_their_author_and_staff(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User], staff: User
) -> None:
    author, other = make_user(), make_user()
    marker = f"m{uuid.uuid4().hex[:10]}"
    held = await make_post(client, author, text=f"{marker} held for review")
    hidden = await make_post(client, author, text=f"{marker} hidden by moderation")
    deleted = await make_post(client, author, text=f"{marker} deleted by its author")
    shown = await make_post(client, author, text=f"{marker} shown to all")
    await hide(database, held, "held")
    await hide(database, hidden, "hidden")
    assert (
        await client.delete(f"/v1/posts/{deleted['id']}", headers=author.headers)
    ).status_code == 204

    everything = [shown["text"], hidden["text"], held["text"]]
    assert await found(client, q=marker) == [shown["text"]]
    assert await found(client, other, q=marker) == [shown["text"]]
    assert await found(client, author, q=marker) == everything
    assert await found(client, staff, q=marker) == everything
    statuses = [post["status"] for post in (await search(client, author, q=marker)).json()["items"]]
    assert statuses == ["published", "hidden", "held"]


async def test_search_pages_by_cursor_and_refuses_a_tampered_one(
    client: httpx.AsyncClient, make_user: Callable[..., User]
) -> None:
    author = make_user()
    tag = f"t{uuid.uuid4().hex[:10]}"
    posts = [await make_post(client, author, text=f"page {n}", tags=[tag]) for n in range(5)]

    seen: list[str] = []
    cursor = None
    while True:
        params = {"tag": tag, "limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await search(client, **params)).json()
        seen += [post["id"] for post in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [post["id"] for post in reversed(posts)]

    first = (await search(client, tag=tag, limit=2)).json()["next_cursor"]
    for tampered in ("not-a-cursor", first[:-3], "WyJ4Il0"):
        answer = await search(client, tag=tag, cursor=tampered)
        assert answer.status_code == 422, tampered
        assert answer.json()["type"].endswith("/bad-cursor")


async def test_postgresql_answers_a_word_from_the_trigram_index(database: Database) -> None:
    """Among 5,000 posts, a search's own statement reads a word from ``ix_posts_text_trgm``
    (``enable_seqscan`` off only to show the index is usable for it, whatever the costs;
    the index's pending list is merged first, as vacuum would, for stable estimates)."""
    statement = NEWEST.paged(
        viewed(None).where(matching(["xylophonic"], None), access.visible_to(None)),
        PageParams(cursor=None, limit=20),
    )
    sql = statement.compile(dialect=asyncpg.dialect(), compile_kwargs={"literal_binds": True})
    async with database.engine.connect() as connection:
        transaction = await connection.begin()
        try:
            await connection.execute(
                text(
                    "INSERT INTO posts (id, author_id, official, text, images, tags, members_only, "
                    "status, created_at, updated_at) "
                    "SELECT gen_random_uuid(), gen_random_uuid(), false, "
                    "'filler ' || md5(g::text), '[]', '[]', false, 'published', now(), now() "
                    "FROM generate_series(1, 5000) AS g"
                )
            )
            await connection.execute(text("SELECT gin_clean_pending_list('ix_posts_text_trgm')"))
            await connection.execute(text("ANALYZE posts"))
            await connection.execute(text("SET LOCAL enable_seqscan = off"))
            plan = "\n".join(row[0] for row in await connection.execute(text(f"EXPLAIN {sql}")))
        finally:
            await transaction.rollback()
    assert "ix_posts_text_trgm" in plan, plan
