"""Trust: automatic pre-moderation (an author with too many upheld reports, a new account
posting too fast: their next post is held until staff release it, seen only by them and
staff) and standing (one test per row of :mod:`services.content.service.standing`'s
tables)."""

import json
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from kit.db import Database, utcnow
from kit.testing.services import running, service_client
from kit.testing.tokens import TokenMinter
from services.content.app import create_app
from services.content.config import ContentSettings
from services.content.tests.support import User, make_post, outbox_types, post_body

IMAGE = "https://images.example.com/lake.jpg"


@pytest.fixture(scope="module")
async def strict_client(content_url: str, minter: TokenMinter) -> AsyncIterator[httpx.AsyncClient]:
    """A second app on the same database whose new accounts may post twice an hour."""
    settings = ContentSettings(
        database_url=content_url, bus_enabled=False, new_account_posts_per_hour=2
    )
    app = create_app(settings, token_verifier=minter.verifier())
    async with running(app), service_client(app, base_url="http://content") as client:
        yield client


async def add_member(
    database: Database,
    user: User,
    *,
    registered_ago: timedelta,
    tier: int | None = None,
    roles: list[str] | None = None,
) -> None:
    """The row identity's announcements would have written."""
    async with database.engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO members (user_id, registered_at, tier, roles, updated_at)"
                " VALUES (:id, :at, :tier, CAST(:roles AS json), now())"
            ),
            {
                "id": user.id,
                "at": utcnow() - registered_ago,
                "tier": tier,
                "roles": None if roles is None else json.dumps(roles),
            },
        )


async def post(client: httpx.AsyncClient, author: User, **overrides: Any) -> httpx.Response:
    return await client.post("/v1/posts", json=post_body(**overrides), headers=author.headers)


async def uphold_report(
    client: httpx.AsyncClient, staff: User, reporter: User, target: dict[str, Any]
) -> None:
    body = {"target_kind": "post", "target_id": target["id"], "reason": "spam"}
    assert (
        await client.post("/v1/reports", json=body, headers=reporter.headers)
    ).status_code == 201
    verdict = {"target_kind": "post", "target_id": target["id"], "verdict": "upheld"}
    resolved = await client.post(
        "/v1/moderation/reports/resolve", json=verdict, headers=staff.headers
    )
    assert resolved.status_code == 200, resolved.text


async def ids(client: httpx.AsyncClient, url: str, viewer: User | None = None) -> list[str]:
    headers = viewer.headers if viewer else {}
    page = await client.get(url, params={"limit": 100}, headers=headers)
    assert page.status_code == 200, page.text
    return [item["id"] for item in page.json()["items"]]


async def assert_held_for_others(
    client: httpx.AsyncClient, held: dict[str, Any], author: User, other: User, staff: User
) -> None:
    """Held: the author and staff see it, marked; nobody else, anywhere."""
    assert held["status"] == "held"
    for viewer in (None, other):
        headers = viewer.headers if viewer else {}
        assert (await client.get(f"/v1/posts/{held['id']}", headers=headers)).status_code == 404
        for url in (
            f"/v1/feed/users/{author.id}",
            "/v1/feed/official",
            f"/v1/feed/cities/{held['city']}",
        ):
            assert held["id"] not in await ids(client, url, viewer), url
    for insider in (author, staff):
        seen = await client.get(f"/v1/posts/{held['id']}", headers=insider.headers)
        assert seen.status_code == 200
        assert seen.json()["status"] == "held"
    assert held["id"] in await ids(client, f"/v1/feed/users/{author.id}", author)
    assert held["id"] in await ids(client, "/v1/moderation/held", staff)


async def release(client: httpx.AsyncClient, staff: User, held: dict[str, Any]) -> None:
    released = await client.post(
        f"/v1/moderation/posts/{held['id']}/release", headers=staff.headers
    )
    assert released.status_code == 200, released.text
    assert released.json()["status"] == "published"


async def test_an_author_with_too_many_upheld_reports_has_new_posts_held(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User], staff: User
) -> None:
    author, reporter, other = make_user(), make_user(), make_user()
    city = f"Town {uuid.uuid4().hex[:8]}"
    posts = [await make_post(client, author, text=f"post {n}", city=city) for n in range(4)]
    await uphold_report(client, staff, reporter, posts[0])
    dismissed = {"target_kind": "post", "target_id": posts[1]["id"], "reason": "meh"}
    await client.post("/v1/reports", json=dismissed, headers=reporter.headers)
    await client.post(
        "/v1/moderation/reports/resolve",
        json={"target_kind": "post", "target_id": posts[1]["id"], "verdict": "dismissed"},
        headers=staff.headers,
    )
    fifth = await make_post(client, author, text="one in four upheld", city=city)
    assert fifth["status"] == "published", "a share of 0.25 is under 0.3"

    await uphold_report(client, staff, reporter, posts[2])
    sixth = await post(client, author, text="two in five upheld", city=city)
    assert sixth.status_code == 201, sixth.text
    held = sixth.json()
    await assert_held_for_others(client, held, author, other, staff)
    assert await outbox_types(database, held["id"]) == []

    await release(client, staff, held)
    assert (await client.get(f"/v1/posts/{held['id']}", headers=other.headers)).status_code == 200
    assert held["id"] in await ids(client, f"/v1/feed/cities/{city}")
    assert held["id"] not in await ids(client, "/v1/moderation/held", staff)
    assert await outbox_types(database, held["id"]) == ["content.post.published.v1"]
    again = await make_post(client, author, text="still held", city=city)
    assert again["status"] == "held"
    assert (await post(client, staff, text="staff are never held")).json()["status"] == "published"


async def test_a_new_account_posting_too_fast_is_held(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User], staff: User
) -> None:
    newcomer, veteran, other = make_user(), make_user(), make_user()
    await add_member(database, newcomer, registered_ago=timedelta(hours=2))
    await add_member(database, veteran, registered_ago=timedelta(days=30))
    city = f"Town {uuid.uuid4().hex[:8]}"
    for n in range(5):
        assert (await make_post(client, newcomer, text=f"hi {n}", city=city))[
            "status"
        ] == "published"
        await make_post(client, veteran, text=f"hi {n}")
    assert (await make_post(client, veteran, text="sixth"))["status"] == "published"
    held = await make_post(client, newcomer, text="sixth in an hour", city=city)
    await assert_held_for_others(client, held, newcomer, other, staff)
    await release(client, staff, held)
    released = await client.post(
        f"/v1/moderation/posts/{held['id']}/release", headers=staff.headers
    )
    assert released.status_code == 409


async def test_the_hourly_limit_of_new_accounts_is_a_setting(
    strict_client: httpx.AsyncClient, database: Database, make_user: Callable[..., User]
) -> None:
    newcomer = make_user()
    await add_member(database, newcomer, registered_ago=timedelta(minutes=5))
    statuses = [(await make_post(strict_client, newcomer))["status"] for _ in range(3)]
    assert statuses == ["published", "published", "held"]


async def test_standing_newcomer_cannot_post_images(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User]
) -> None:
    newcomer = make_user("fan")
    await add_member(database, newcomer, registered_ago=timedelta(days=1))
    refused = await post(client, newcomer, images=[IMAGE])
    assert refused.status_code == 403
    problem = refused.json()
    assert problem["type"].endswith("/low-standing")
    assert (problem["needed"], problem["standing"]) == ("member", "newcomer")
    assert (await post(client, newcomer)).status_code == 201, "text needs no standing"


async def test_standing_member_posts_images_but_creates_no_circle(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User]
) -> None:
    fan = make_user("fan")
    await add_member(database, fan, registered_ago=timedelta(days=60))
    assert (await post(client, fan, images=[IMAGE])).status_code == 201
    for kind in ("interest", "industry"):
        body = {"name": f"fans {uuid.uuid4()}", "kind": kind}
        refused = await client.post("/v1/circles", json=body, headers=fan.headers)
        assert refused.status_code == 403
        assert refused.json()["type"].endswith("/low-standing")
    unknown = make_user("fan")
    assert (await post(client, unknown, images=[IMAGE])).status_code == 201, (
        "an account identity never announced is a member"
    )


async def test_standing_trusted_creates_a_circle(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User]
) -> None:
    owner, tiered, announced = make_user("owner"), make_user("fan"), make_user("fan")
    await add_member(database, owner, registered_ago=timedelta(hours=1))
    await add_member(database, tiered, registered_ago=timedelta(days=60), tier=2)
    await add_member(database, announced, registered_ago=timedelta(days=60), roles=["owner"])
    for user in (owner, tiered, announced):
        body = {"name": f"trusted {uuid.uuid4()}", "kind": "interest"}
        created = await client.post("/v1/circles", json=body, headers=user.headers)
        assert created.status_code == 201, created.text
    assert (await post(client, owner, images=[IMAGE])).status_code == 201
    industry = {"name": f"tier only {uuid.uuid4()}", "kind": "industry"}
    refused = await client.post("/v1/circles", json=industry, headers=tiered.headers)
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("/owners-only")
    industry = {"name": f"announced {uuid.uuid4()}", "kind": "industry"}
    created = await client.post("/v1/circles", json=industry, headers=announced.headers)
    assert created.status_code == 201, created.text


async def test_standing_staff_may_everything(
    client: httpx.AsyncClient, database: Database, staff: User
) -> None:
    await add_member(database, staff, registered_ago=timedelta(minutes=1))
    assert (await post(client, staff, images=[IMAGE])).status_code == 201
    body = {"name": f"brand {uuid.uuid4()}", "kind": "industry"}
    assert (await client.post("/v1/circles", json=body, headers=staff.headers)).status_code == 201
