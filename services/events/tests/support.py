"""Factories and helpers for events' tests: users with tokens, event bodies, published
events, and raw reads of the database (to check what the API cannot show)."""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

QR_SECRET = "test-qr-secret-0123456789"


@dataclass
class User:
    id: uuid.UUID
    headers: dict[str, str]


def now() -> datetime:
    return datetime.now(UTC)


def event_body(**overrides: Any) -> dict[str, Any]:
    start = now() + timedelta(days=2)
    body: dict[str, Any] = {
        "title": "Saturday salon",
        "category": "salon",
        "city": "Munich",
        "capacity": 10,
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=3)).isoformat(),
        "opens_at": (now() - timedelta(minutes=5)).isoformat(),
        "closes_at": (start - timedelta(hours=1)).isoformat(),
    }
    body.update(overrides)
    return body


async def published_event(
    client: httpx.AsyncClient, organizer: User, **overrides: Any
) -> dict[str, Any]:
    """Create an event as ``organizer`` (staff) and publish it."""
    created = await client.post(
        "/v1/events", json=event_body(**overrides), headers=organizer.headers
    )
    assert created.status_code == 201, created.text
    published = await client.post(
        f"/v1/events/{created.json()['id']}/publish", headers=organizer.headers
    )
    assert published.status_code == 200, published.text
    event: dict[str, Any] = published.json()
    return event
