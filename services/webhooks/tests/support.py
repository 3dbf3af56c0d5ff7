"""Factories and helpers for webhooks' tests: a receiver (a real HTTP server on loopback
that records what it is sent and answers as each test tells it), partners and endpoints
made through the admin API, events handed to the fan-out as the consumer hands them, and
waiting for what the dispatcher does."""

import asyncio
import json
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from contracts.catalog import Payload
from kit.bus.envelope import Envelope
from kit.db import Database
from kit.testing.servers import serving
from services.webhooks.consumers import on_partner_event

Answer = Callable[[int], Awaitable[Response] | Response]
"""How a receiver's path answers its n-th request (1 for the first)."""


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A partner's server: ``url(name)`` is one endpoint of it, answering as ``answers[name]``
    says (200 by default) and recording every request."""

    base_url: str = ""
    answers: dict[str, Answer] = field(default_factory=dict)
    received: dict[str, list[Received]] = field(default_factory=lambda: defaultdict(list))

    def url(self, name: str) -> str:
        return f"{self.base_url}/hooks/{name}"

    async def handle(self, request: Request) -> Response:
        name = request.path_params["name"]
        body = await request.body()
        self.received[name].append(Received(name, dict(request.headers), body, time.monotonic()))
        answer = self.answers.get(name)
        if answer is None:
            return Response("ok")
        result = answer(len(self.received[name]))
        return await result if isinstance(result, Awaitable) else result

    async def wait_for(self, name: str, count: int, *, within: float = 15) -> list[Received]:
        deadline = time.monotonic() + within
        while len(self.received[name]) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} got {len(self.received[name])} requests, not {count}")
            await asyncio.sleep(0.02)
        return self.received[name]


@asynccontextmanager
async def receiving() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = Starlette(routes=[Route("/hooks/{name}", receiver.handle, methods=["POST"])])
    async with serving(app) as base_url:
        receiver.base_url = base_url
        yield receiver


def fail_first(times: int, status: int = 500) -> Answer:
    """Answer ``status`` to the first ``times`` requests, then 200."""
    return lambda n: Response("down", status_code=status) if n <= times else Response("ok")


def always(status: int, headers: dict[str, str] | None = None) -> Answer:
    return lambda _: Response("no", status_code=status, headers=headers)


def sleeping(seconds: float) -> Answer:
    async def answer(_: int) -> Response:
        await asyncio.sleep(seconds)
        return Response("late")

    return answer


@dataclass
class Partner:
    id: uuid.UUID
    slug: str
    portal_key: str
    inbound_secret: str


@dataclass
class Endpoint:
    id: uuid.UUID
    partner: Partner
    secret: str | None
    public_key: str | None


async def new_partner(client: httpx.AsyncClient, admin: dict[str, str]) -> Partner:
    slug = f"p-{uuid.uuid4().hex[:12]}"
    response = await client.post(
        "/v1/partner-apps",
        json={"slug": slug, "name": f"Partner {slug}", "contact_email": f"{slug}@example.com"},
        headers=admin,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return Partner(
        uuid.UUID(body["partner"]["id"]), slug, body["portal_key"], body["inbound_secret"]
    )


async def new_endpoint(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    partner: Partner,
    url: str,
    **options: Any,
) -> Endpoint:
    options.setdefault("event_types", ["referrals.funnel.*"])
    response = await client.post(
        f"/v1/partner-apps/{partner.id}/endpoints", json={"url": url, **options}, headers=admin
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return Endpoint(
        uuid.UUID(body["endpoint"]["id"]),
        partner,
        body["secret"]["secret"],
        body["secret"]["public_key"],
    )


async def publish_to_webhooks(database: Database, payload: Payload) -> Envelope:
    """Hand ``payload`` to the fan-out in one transaction, as the consumer does."""
    envelope = Envelope(
        type=payload.event_type,
        source="referrals",
        subject=payload.subject(),
        data=payload.model_dump(mode="json"),
    )
    async with database.transaction() as session:
        await on_partner_event(session, payload, envelope)
    return envelope
