"""Factories and helpers for referrals' tests: members with tokens, fresh phone numbers,
events delivered to the handlers as the consumer delivers them, and reads of the
database and the outbox."""

import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from contracts.catalog import Payload
from contracts.identity import UserRegistered
from kit.bus.envelope import Envelope
from kit.db import Database
from kit.testing.services import outbox_events, rows
from services.referrals.consumers import SUBSCRIPTIONS

HANDLERS = {
    model.event_type: (model, handler)
    for subscription in SUBSCRIPTIONS
    for model, handler in subscription.handlers.items()
}


@dataclass
class Member:
    id: uuid.UUID
    headers: dict[str, str]


class Phones:
    """Distinct valid mainland China mobile numbers (+86 138 ...), never repeated in a run."""

    def __init__(self) -> None:
        self._numbers = itertools.count(10_000_000)

    def next(self) -> str:
        return f"+86138{next(self._numbers):08d}"


async def handle(database: Database, payload: Payload) -> None:
    """Deliver ``payload`` to its handler in one transaction, as the consumer does (under
    a new CloudEvent id each time: a redelivery the consumer's dedupe would not catch)."""
    envelope = Envelope(
        type=payload.event_type,
        source="test",
        subject=payload.subject(),
        data=payload.model_dump(mode="json"),
    )
    model, handler = HANDLERS[envelope.type]
    async with database.transaction() as session:
        await handler(session, model.model_validate(envelope.data), envelope)


async def register(
    database: Database,
    user_id: uuid.UUID,
    *,
    name: str = "Prospect",
    code: str | None = None,
    device_hash: str | None = None,
    at: datetime | None = None,
) -> None:
    """Identity's registration of ``user_id``, as referrals' consumer receives it."""
    await handle(
        database,
        UserRegistered(
            user_id=user_id,
            display_name=name,
            referral_code=code,
            device_hash=device_hash,
            registered_at=at or datetime.now(UTC),
        ),
    )


async def code_of(client: httpx.AsyncClient, member: Member) -> str:
    response = await client.get("/v1/me/referral-code", headers=member.headers)
    assert response.status_code == 200, response.text
    code: str = response.json()["code"]
    return code


async def published(database: Database, referral_id: uuid.UUID) -> list[str]:
    """The event types published about ``referral_id``, in order."""
    return [event.type for event in await outbox_events(database, subject=referral_id)]


async def referrals_of(database: Database, referrer_id: uuid.UUID) -> list[Any]:
    return await rows(
        database,
        "SELECT * FROM referrals WHERE referrer_id = :r ORDER BY created_at, id",
        r=referrer_id,
    )
