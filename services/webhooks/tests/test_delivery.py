"""Deliveries as a partner receives them: signed so the official ``standardwebhooks``
package verifies them (HMAC, and both keys during a rotation), Ed25519 against the published
key set, the CloudEvent as the body, only what the endpoint subscribed to, retried on the
schedule with the same ``webhook-id`` until it succeeds or is exhausted, and replayed."""

import base64
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from standardwebhooks import Webhook

from contracts.referrals import LeadCreated
from contracts.rewards import OrderPlaced
from kit.db import Database
from kit.testing.services import outbox_events, scalar
from kit.testing.waiting import eventually
from services.webhooks.tests.support import (
    Receiver,
    always,
    fail_first,
    new_endpoint,
    new_partner,
    publish_to_webhooks,
)


def lead() -> LeadCreated:
    return LeadCreated(
        referral_id=uuid.uuid4(),
        referrer_id=uuid.uuid4(),
        referee_user_id=None,
        occurred_at=datetime.now(UTC),
        source="share_form",
    )


def name() -> str:
    return uuid.uuid4().hex


async def test_an_hmac_delivery_verifies_with_standardwebhooks_and_carries_the_cloudevent(
    client: httpx.AsyncClient, admin: dict[str, str], receiver: Receiver, database: Database
) -> None:
    hook = name()
    partner = await new_partner(client, admin)
    endpoint = await new_endpoint(client, admin, partner, receiver.url(hook))
    envelope = await publish_to_webhooks(database, lead())

    [received] = await receiver.wait_for(hook, 1)
    event = Webhook(endpoint.secret or "").verify(received.body, received.headers)
    assert event["specversion"] == "1.0"
    assert event["id"] == envelope.id
    assert event["type"] == "referrals.funnel.lead_created.v1"
    assert event["subject"] == envelope.subject
    assert event["data"] == envelope.data
    assert received.webhook_id.startswith("msg_")

    async def logged() -> bool:
        response = await client.get(f"/v1/webhook-endpoints/{endpoint.id}/attempts", headers=admin)
        return any(item["succeeded"] for item in response.json()["items"])

    await eventually(logged, timeout=15)
    deliveries = await client.get(f"/v1/webhook-endpoints/{endpoint.id}/deliveries", headers=admin)
    [delivery] = deliveries.json()["items"]
    assert delivery["message_id"] == received.webhook_id
    assert delivery["status"] == "succeeded"


async def test_a_signature_from_another_secret_does_not_verify(
    client: httpx.AsyncClient, admin: dict[str, str], receiver: Receiver, database: Database
) -> None:
    hook = name()
    partner = await new_partner(client, admin)
    await new_endpoint(client, admin, partner, receiver.url(hook))
    other = await new_endpoint(client, admin, partner, receiver.url(name()))
    await publish_to_webhooks(database, lead())
    [received] = await receiver.wait_for(hook, 1)
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(other.secret or "").verify(received.body, received.headers)


async def test_only_subscribed_event_types_are_delivered(
    client: httpx.AsyncClient, admin: dict[str, str], receiver: Receiver, database: Database
) -> None:
    funnel, orders = name(), name()
    partner = await new_partner(client, admin)
    await new_endpoint(client, admin, partner, receiver.url(funnel))
    await new_endpoint(
        client, admin, partner, receiver.url(orders), event_types=["rewards.order.placed.v1"]
    )
    await publish_to_webhooks(database, lead())
    await publish_to_webhooks(
        database,
        OrderPlaced(
            order_id=uuid.uuid4(),
            user_id=uuid.uuid4(),
            item_id=uuid.uuid4(),
            item_name="Cap",
            quantity=1,
            points=100,
            cash_cents=0,
            placed_at=datetime.now(UTC),
        ),
    )
    [to_funnel] = await receiver.wait_for(funnel, 1)
    [to_orders] = await receiver.wait_for(orders, 1)
    assert to_funnel.json()["type"] == "referrals.funnel.lead_created.v1"
    assert to_orders.json()["type"] == "rewards.order.placed.v1"


async def test_an_ed25519_delivery_verifies_against_the_published_key_set(
    client: httpx.AsyncClient, admin: dict[str, str], receiver: Receiver, database: Database
) -> None:
    hook = name()
    partner = await new_partner(client, admin)
    endpoint = await new_endpoint(client, admin, partner, receiver.url(hook), signing="ed25519")
    assert endpoint.secret is None, "the private key never leaves the service"
    await publish_to_webhooks(database, lead())
    [received] = await receiver.wait_for(hook, 1)

    keys = (await client.get("/v1/webhook-keys")).json()["keys"]
    [published] = [key for key in keys if key["x"] == endpoint.public_key]
    assert (published["kty"], published["crv"]) == ("OKP", "Ed25519")
    public = Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(published["x"] + "="))
    version, signature = received.headers["webhook-signature"].split(",")
    assert version == "v1a"
    signed = (
        f"{received.webhook_id}.{received.headers['webhook-timestamp']}.".encode() + received.body
    )
    public.verify(base64.b64decode(signature), signed)  # raises when it does not verify


async def test_during_a_rotation_both_secrets_sign_and_after_it_only_the_new_one(
    client: httpx.AsyncClient, admin: dict[str, str], receiver: Receiver, database: Database
) -> None:
    hook = name()
    partner = await new_partner(client, admin)
    endpoint = await new_endpoint(client, admin, partner, receiver.url(hook))
    rotated = await client.post(
        f"/v1/webhook-endpoints/{endpoint.id}/secret", json={"overlap_seconds": 3600}, headers=admin
    )
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    await publish_to_webhooks(database, lead())
    [during] = await receiver.wait_for(hook, 1)
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    Webhook(endpoint.secret or "").verify(during.body, during.headers)
    Webhook(new_secret).verify(during.body, during.headers)

    ended = await client.post(
        f"/v1/webhook-endpoints/{endpoint.id}/secret", json={"overlap_seconds": 0}, headers=admin
    )
    newest = ended.json()["secret"]
    await publish_to_webhooks(database, lead())
    after = (await receiver.wait_for(hook, 2))[1]
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    Webhook(newest).verify(after.body, after.headers)
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(new_secret).verify(after.body, after.headers)


async def test_an_endpoint_failing_five_times_gets_the_message_at_the_next_attempt_with_one_id(
    client: httpx.AsyncClient, admin: dict[str, str], receiver: Receiver, database: Database
) -> None:
    hook = name()
    receiver.answers[hook] = fail_first(5)
    partner = await new_partner(client, admin)
    endpoint = await new_endpoint(client, admin, partner, receiver.url(hook))
    await publish_to_webhooks(database, lead())

    received = await receiver.wait_for(hook, 6)
    assert len({request.webhook_id for request in received}) == 1
    for request in received:
        Webhook(endpoint.secret or "").verify(request.body, request.headers)

    async def succeeded() -> bool:
        return (
            await scalar(
                database,
                "SELECT status FROM deliveries WHERE endpoint_id = :id",
                id=endpoint.id,
            )
            == "succeeded"
        )

    await eventually(succeeded, timeout=15)
    log = await client.get(f"/v1/webhook-endpoints/{endpoint.id}/attempts", headers=admin)
    attempts = sorted(log.json()["items"], key=lambda item: item["attempt"])
    assert [item["attempt"] for item in attempts] == [1, 2, 3, 4, 5, 6]
    assert [item["status_code"] for item in attempts] == [500] * 5 + [200]
    assert all(item["next_attempt_at"] for item in attempts[:5])
    assert attempts[5]["next_attempt_at"] is None
    assert len(receiver.received[hook]) == 6


async def test_an_exhausted_message_is_announced_and_a_replay_sends_it_again(
    client: httpx.AsyncClient, admin: dict[str, str], receiver: Receiver, database: Database
) -> None:
    hook = name()
    receiver.answers[hook] = always(500)
    partner = await new_partner(client, admin)
    endpoint = await new_endpoint(client, admin, partner, receiver.url(hook))
    await publish_to_webhooks(database, lead())
    first = await receiver.wait_for(hook, 8)

    async def exhausted() -> bool:
        return (
            await scalar(
                database, "SELECT status FROM deliveries WHERE endpoint_id = :id", id=endpoint.id
            )
            == "exhausted"
        )

    await eventually(exhausted, timeout=15)
    announced = [
        event.data
        for event in await outbox_events(
            database, subject=endpoint.id, event_type="webhooks.message.exhausted.v1"
        )
    ]
    assert announced == [
        {
            "partner_id": str(partner.id),
            "endpoint_id": str(endpoint.id),
            "url": receiver.url(hook),
            "message_id": first[0].webhook_id,
            "message_type": "referrals.funnel.lead_created.v1",
            "attempts": 8,
            "last_status": 500,
            "exhausted_at": announced[0]["exhausted_at"],
        }
    ]

    receiver.answers[hook] = always(200)
    replayed = await client.post(
        f"/v1/webhook-endpoints/{endpoint.id}/replay",
        json={"exhausted_only": True},
        headers=admin,
    )
    assert replayed.json() == {"queued": 1}
    again = await receiver.wait_for(hook, 9)
    assert again[8].webhook_id == first[0].webhook_id
    await eventually(lambda: _status(database, endpoint.id, "succeeded"), timeout=15)


async def _status(database: Database, endpoint_id: uuid.UUID, status: str) -> bool:
    found = await scalar(
        database, "SELECT status FROM deliveries WHERE endpoint_id = :id", id=endpoint_id
    )
    return bool(found == status)
