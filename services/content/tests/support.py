"""Factories and helpers for content's tests: users with tokens, posts, and raw reads of the
database and the outbox (to check what the API cannot show)."""

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from kit.db import Database
from kit.testing.services import rows


@dataclass
class User:
    id: uuid.UUID
    headers: dict[str, str]


def post_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"text": "Sunset drive along the lake", "tags": ["roadtrip"]}
    body.update(overrides)
    return body


async def make_post(client: httpx.AsyncClient, author: User, **overrides: Any) -> dict[str, Any]:
    """A post by ``author`` (201 asserted)."""
    created = await client.post("/v1/posts", json=post_body(**overrides), headers=author.headers)
    assert created.status_code == 201, created.text
    post: dict[str, Any] = created.json()
    return post


async def outbox_types(database: Database, key: uuid.UUID | str) -> list[str]:
    """The event types staged about ``key`` (a post, circle, poll ...), in commit order."""
    found = await rows(
        database, "SELECT type FROM outbox WHERE key = :key ORDER BY position", key=str(key)
    )
    return [row[0] for row in found]
