"""Content on the bus, with identity, content and the gateway as real processes on
PostgreSQL and Kafka: a post published and then deleted by its author reaches
``content.posts`` as two CloudEvents in order, naming content as their source and the
author as their actor; identity announcing a registration gives content the member's
name, and identity deleting an account (``identity.user.deleted.v1``, told over Kafka)
makes content erase that member's posts.

Only this module runs content with its consumers on: its consumer group is the same in
every content process, so two of them on one broker would share identity's partitions.
"""

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from kit.db import Database
from kit.testing.kafka import events_for
from kit.testing.plugin import MigratedDatabaseFactory
from kit.testing.services import scalar
from kit.testing.waiting import eventually
from services.content.tests.support import post_body
from tests.processes import ServiceProcess

PASSWORD = "a long enough passphrase"
STARTUP_SECONDS = 90  # three processes start at once on a shared machine


@pytest.fixture
async def content_database(migrated_database_factory: MigratedDatabaseFactory) -> str:
    return await migrated_database_factory("content")


@pytest.fixture
async def content_db(content_database: str) -> AsyncIterator[Database]:
    """Content's database, read directly for what its API does not show."""
    database = Database(content_database, service="content")
    yield database
    await database.dispose()


@contextmanager
def processes(
    identity_env: dict[str, str], content_database: str, kafka: str, logs: Path
) -> Iterator[ServiceProcess]:
    """identity, content and the gateway in front of them; yields the gateway."""
    shared = {"KAFKA_BOOTSTRAP_SERVERS": kafka}
    identity = ServiceProcess(
        "services.identity.app:create_app", {**identity_env, **shared}, logs / "identity.log"
    ).start(STARTUP_SECONDS)
    jwks = {"PADDOCK_JWKS_URL": f"{identity.url}/.well-known/jwks.json"}
    content = ServiceProcess(
        "services.content.app:create_app",
        {**shared, **jwks, "CONTENT_DATABASE_URL": content_database},
        logs / "content.log",
    )
    gateway = ServiceProcess(
        "gateway.app:create_app",
        {
            **shared,
            **jwks,
            "GATEWAY_UPSTREAMS": json.dumps({"identity": identity.url, "content": content.url}),
        },
        logs / "gateway.log",
    )
    try:
        content.start(STARTUP_SECONDS)
        yield gateway.start(STARTUP_SECONDS)
    finally:
        gateway.stop()
        content.stop()
        identity.stop()


@pytest.fixture
def stack(
    identity_env: dict[str, str], content_database: str, kafka_bootstrap: str, tmp_path: Path
) -> Iterator[ServiceProcess]:
    with processes(identity_env, content_database, kafka_bootstrap, tmp_path) as gateway:
        yield gateway


async def member(client: httpx.AsyncClient, name: str) -> tuple[str, dict[str, str]]:
    """(user id, headers) of an account registered and logged in through the gateway."""
    email = f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.com"
    body = {"email": email, "password": PASSWORD, "display_name": name}
    registered = await client.post("/v1/auth/register", json=body)
    assert registered.status_code == 201, registered.text
    login = await client.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return registered.json()["id"], {"Authorization": f"Bearer {login.json()['access_token']}"}


async def test_a_post_published_and_deleted_is_on_the_bus(
    stack: ServiceProcess, kafka_bootstrap: str
) -> None:
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
        user_id, headers = await member(client, "Lena")
        created = await client.post("/v1/posts", json=post_body(city="Munich"), headers=headers)
        assert created.status_code == 201, created.text
        post_id = created.json()["id"]

        async def named() -> bool:
            """identity.user.registered crossed Kafka: content knows the author's name."""
            post = (await client.get(f"/v1/posts/{post_id}")).json()
            return bool(post["author"]["display_name"] == "Lena")

        await eventually(named, timeout=60, message="content never learnt the member's name")
        deleted = await client.delete(f"/v1/posts/{post_id}", headers=headers)
        assert deleted.status_code == 204, deleted.text
        assert (await client.get(f"/v1/posts/{post_id}")).status_code == 404

    events = await events_for(kafka_bootstrap, "content.posts", post_id, expect=2)
    assert [event.type for event in events] == [
        "content.post.published.v1",
        "content.post.removed.v1",
    ]
    published, removed = events
    assert {event.source for event in events} == {"content"}
    assert {event.actor for event in events} == {user_id}
    assert published.data["author_id"] == user_id
    assert published.data["city"] == "Munich"
    assert removed.data == {
        "post_id": post_id,
        "author_id": user_id,
        "reason": "author",
        "removed_by": user_id,
        "note": None,
    }


async def test_a_deleted_account_has_its_posts_erased(
    stack: ServiceProcess, content_db: Database, kafka_bootstrap: str
) -> None:
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
        user_id, headers = await member(client, "Mo")
        _, reader = await member(client, "Ida")
        created = await client.post("/v1/posts", json=post_body(), headers=headers)
        assert created.status_code == 201, created.text
        post = created.headers["location"]
        assert (await client.delete("/v1/me", headers=headers)).status_code == 204

        async def marked() -> bool:
            """identity.user.deleted crossed Kafka: content marked the member deleted."""
            sql = "SELECT deleted_at IS NOT NULL FROM members WHERE user_id = :id"
            return bool(await scalar(content_db, sql, id=user_id))

        await eventually(marked, timeout=60, message="content never heard of the deletion")
        for viewer in ({}, reader):
            erased = await client.get(post, headers=viewer)
            assert erased.status_code == 404, erased.text

    deleted = await events_for(kafka_bootstrap, "identity.users", user_id, expect=2)
    assert [event.type for event in deleted][-1] == "identity.user.deleted.v1"
