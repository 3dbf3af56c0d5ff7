"""Bad input to posts and feeds gets a clear 4xx problem document and writes nothing."""

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from kit.db import Database
from kit.testing.services import scalar
from services.content.tests.support import User, make_post, post_body


def assert_problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"] == f"https://paddock.dev/problems/{code}"


async def posts_by(database: Database, author: User) -> int:
    return int(
        await scalar(database, "SELECT count(*) FROM posts WHERE author_id = :a", a=author.id)
    )


@pytest.mark.parametrize(
    "body",
    [
        {"text": ""},
        {"text": " \n\t "},
        {"text": "x" * 5001},
        {"text": "nul \x00 byte"},
        {"text": "ok", "images": [f"https://img.example/{n}.jpg" for n in range(10)]},
        {"text": "ok", "images": ["http://img.example/a.jpg"]},
        {"text": "ok", "images": ["javascript:alert(1)"]},
        {"text": "ok", "images": ["https://"]},
        {"text": "ok", "images": ["not a url"]},
        {"text": "ok", "tags": ["two words"]},
        {"text": "ok", "tags": [f"t{n}" for n in range(11)]},
        {"text": "ok", "city": ""},
        {"text": "ok", "author_id": "0190a000-0000-7000-8000-000000000001"},
        {"text": "ok", "like_count": 1000},
        {"text": "ok", "status": "published"},
    ],
    ids=lambda body: ",".join(sorted(body)) + ":" + repr(body)[:40],
)
async def test_a_bad_post_is_refused_and_nothing_is_written(
    client: httpx.AsyncClient,
    database: Database,
    make_user: Callable[..., User],
    body: dict[str, Any],
) -> None:
    author = make_user("owner")
    response = await client.post("/v1/posts", json=body, headers=author.headers)
    assert_problem(response, 422, "validation-error")
    assert await posts_by(database, author) == 0


async def test_unknown_circle_and_unofficial_staff_claims(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User]
) -> None:
    fan = make_user()
    unknown = await client.post(
        "/v1/posts", json=post_body(circle_id=str(uuid.uuid4())), headers=fan.headers
    )
    assert_problem(unknown, 404, "not-found")
    official = await client.post("/v1/posts", json=post_body(official=True), headers=fan.headers)
    assert_problem(official, 403, "forbidden")
    assert await posts_by(database, fan) == 0


async def test_posting_needs_a_token(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/posts", json=post_body())
    assert response.status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"text": None},
        {"images": None},
        {"text": ""},
        {"id": "0190a000-0000-7000-8000-000000000002"},
    ],
)
async def test_a_bad_edit_changes_nothing(
    client: httpx.AsyncClient,
    database: Database,
    make_user: Callable[..., User],
    body: dict[str, Any],
) -> None:
    author = make_user()
    post = await make_post(client, author, text="as written")
    response = await client.patch(f"/v1/posts/{post['id']}", json=body, headers=author.headers)
    assert_problem(response, 422, "validation-error")
    assert await scalar(database, "SELECT text FROM posts WHERE id = :id", id=post["id"]) == (
        "as written"
    )
    assert (
        await scalar(database, "SELECT count(*) FROM post_edits WHERE post_id = :id", id=post["id"])
        == 0
    )


async def test_an_edit_after_the_window_is_refused(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User]
) -> None:
    author = make_user()
    post = await make_post(client, author, text="old news")
    async with database.engine.begin() as connection:
        await connection.execute(
            text("UPDATE posts SET created_at = now() - interval '25 hours' WHERE id = :id"),
            {"id": post["id"]},
        )
    response = await client.patch(
        f"/v1/posts/{post['id']}", json={"text": "rewritten"}, headers=author.headers
    )
    assert_problem(response, 409, "edit-window-closed")
    assert (
        await scalar(database, "SELECT text FROM posts WHERE id = :id", id=post["id"]) == "old news"
    )


@pytest.mark.parametrize("cursor", ["garbage!", "bm90IGpzb24", "WyJhIl0", "WzEsMiwzXQ", "x" * 501])
async def test_a_tampered_cursor_is_a_422(
    client: httpx.AsyncClient, make_user: Callable[..., User], cursor: str
) -> None:
    reader = make_user()
    for path in (
        "/v1/feed",
        "/v1/feed/official",
        "/v1/feed/trending",
        f"/v1/feed/users/{reader.id}",
    ):
        response = await client.get(path, params={"cursor": cursor}, headers=reader.headers)
        assert response.status_code == 422, (path, response.text)


async def test_unknown_posts_are_404(
    client: httpx.AsyncClient, make_user: Callable[..., User]
) -> None:
    user = make_user()
    missing = uuid.uuid4()
    assert (await client.get(f"/v1/posts/{missing}")).status_code == 404
    assert (await client.get("/v1/posts/not-a-uuid")).status_code == 422
    assert (
        await client.patch(f"/v1/posts/{missing}", json={"text": "x"}, headers=user.headers)
    ).status_code == 404
    assert (await client.delete(f"/v1/posts/{missing}", headers=user.headers)).status_code == 404
