"""Inbound partner webhooks: a report signed by the partner (with the official
``standardwebhooks`` package, as a partner would) is published once on ``partners.inbound``;
a retry is acknowledged again; each bad input is a problem document that writes nothing."""

import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from standardwebhooks import Webhook

from kit.db import Database
from kit.testing.services import outbox_events, scalar
from services.webhooks.tests.support import Partner, new_partner

DELIVERED = "partners.sales.vehicle_delivered.v1"


def report(**data: object) -> bytes:
    body = {
        "type": DELIVERED,
        "data": {
            "customer_ref": f"c-{uuid.uuid4().hex[:8]}",
            "customer_user_id": str(uuid.uuid4()),
            "order_ref": "o-1",
            "vin": "LNBSCCAK0JW000001",
            "occurred_at": "2026-12-01T10:00:00Z",
            **data,
        },
    }
    return json.dumps(body).encode()


def signed(
    partner: Partner, body: bytes, *, webhook_id: str | None = None, at: datetime | None = None
) -> dict[str, str]:
    webhook_id = webhook_id or f"msg_{uuid.uuid4().hex}"
    at = at or datetime.now(UTC)
    signature = Webhook(partner.inbound_secret).sign(webhook_id, at, body.decode())
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }


async def written(database: Database) -> tuple[int, int]:
    return (
        await scalar(database, "SELECT count(*) FROM inbound_messages"),
        await scalar(database, "SELECT count(*) FROM outbox WHERE topic = 'partners.inbound'"),
    )


async def test_a_signed_report_is_published_once_and_a_retry_is_acknowledged(
    client: httpx.AsyncClient, admin: dict[str, str], database: Database
) -> None:
    partner = await new_partner(client, admin)
    body = report()
    headers = signed(partner, body)
    first = await client.post(f"/v1/partners/inbound/{partner.slug}", content=body, headers=headers)
    assert first.status_code == 202, first.text
    assert first.json() == {"webhook_id": headers["webhook-id"], "duplicate": False}

    again = await client.post(f"/v1/partners/inbound/{partner.slug}", content=body, headers=headers)
    assert again.status_code == 200
    assert again.json()["duplicate"] is True

    [event] = [
        event
        for event in await outbox_events(database, event_type=DELIVERED)
        if event.data["report_id"] == headers["webhook-id"]
    ]
    data = json.loads(body)["data"]
    assert event.data == {
        **data,
        "partner_id": partner.slug,
        "report_id": headers["webhook-id"],
        "lead_id": None,
        "customer_phone": None,
        "occurred_at": "2026-12-01T10:00:00Z",
    }
    assert event.subject == data["customer_ref"]


async def test_the_same_webhook_id_with_another_body_is_a_conflict(
    client: httpx.AsyncClient, admin: dict[str, str], database: Database
) -> None:
    partner = await new_partner(client, admin)
    webhook_id = f"msg_{uuid.uuid4().hex}"
    body = report()
    accepted = await client.post(
        f"/v1/partners/inbound/{partner.slug}",
        content=body,
        headers=signed(partner, body, webhook_id=webhook_id),
    )
    assert accepted.status_code == 202
    before = await written(database)
    other = report(vin="LNBSCCAK0JW999999")
    replayed = await client.post(
        f"/v1/partners/inbound/{partner.slug}",
        content=other,
        headers=signed(partner, other, webhook_id=webhook_id),
    )
    assert replayed.status_code == 409
    assert replayed.headers["content-type"] == "application/problem+json"
    assert await written(database) == before


def _wrong_secret(partner: Partner, body: bytes) -> dict[str, str]:
    impostor = Partner(partner.id, partner.slug, "", "whsec_" + "A" * 43 + "=")
    return signed(impostor, body)


def _stale(partner: Partner, body: bytes) -> dict[str, str]:
    return signed(partner, body, at=datetime.now(UTC) - timedelta(minutes=10))


def _future(partner: Partner, body: bytes) -> dict[str, str]:
    return signed(partner, body, at=datetime.now(UTC) + timedelta(minutes=10))


def _tampered(partner: Partner, body: bytes) -> dict[str, str]:
    headers = signed(partner, body)
    headers["webhook-id"] = f"msg_{uuid.uuid4().hex}"  # signed for another id
    return headers


def _unsigned(partner: Partner, body: bytes) -> dict[str, str]:
    headers = signed(partner, body)
    del headers["webhook-signature"]
    return headers


@pytest.mark.parametrize(
    "forge", [_wrong_secret, _stale, _future, _tampered, _unsigned], ids=lambda f: f.__name__
)
async def test_a_bad_signature_is_refused_and_writes_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], database: Database, forge: object
) -> None:
    partner = await new_partner(client, admin)
    body = report()
    before = await written(database)
    response = await client.post(
        f"/v1/partners/inbound/{partner.slug}",
        content=body,
        headers=forge(partner, body),  # type: ignore[operator]
    )
    assert response.status_code == 401, response.text
    assert response.json()["type"].endswith("/bad-signature")
    assert await written(database) == before


async def test_a_signature_over_another_body_is_refused(
    client: httpx.AsyncClient, admin: dict[str, str], database: Database
) -> None:
    partner = await new_partner(client, admin)
    headers = signed(partner, report())
    before = await written(database)
    response = await client.post(
        f"/v1/partners/inbound/{partner.slug}", content=report(), headers=headers
    )
    assert response.status_code == 401
    assert await written(database) == before


async def test_an_unknown_partner_is_not_found(
    client: httpx.AsyncClient, admin: dict[str, str], database: Database
) -> None:
    partner = await new_partner(client, admin)
    body = report()
    before = await written(database)
    response = await client.post(
        "/v1/partners/inbound/no-such-partner", content=body, headers=signed(partner, body)
    )
    assert response.status_code == 404
    assert await written(database) == before


async def test_a_suspended_partner_is_refused(
    client: httpx.AsyncClient, admin: dict[str, str], database: Database
) -> None:
    partner = await new_partner(client, admin)
    suspended = await client.patch(
        f"/v1/partner-apps/{partner.id}", json={"status": "suspended"}, headers=admin
    )
    assert suspended.status_code == 200
    body = report()
    before = await written(database)
    response = await client.post(
        f"/v1/partners/inbound/{partner.slug}", content=body, headers=signed(partner, body)
    )
    assert response.status_code == 403
    assert await written(database) == before


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        json.dumps({"type": "partners.sales.unknown.v1", "data": {}}).encode(),
        json.dumps({"type": DELIVERED, "data": {"customer_ref": "c"}}).encode(),
        report(vin=None),
        report(occurred_at="yesterday"),
        report(partner_id="someone-else"),
        json.dumps({"type": DELIVERED}).encode(),
    ],
    ids=[
        "not-json",
        "array",
        "unknown-type",
        "missing-fields",
        "null-vin",
        "bad-time",
        "partner-id-set-by-the-body",
        "no-data",
    ],
)
async def test_a_malformed_body_is_a_422_that_writes_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], database: Database, body: bytes
) -> None:
    partner = await new_partner(client, admin)
    before = await written(database)
    response = await client.post(
        f"/v1/partners/inbound/{partner.slug}", content=body, headers=signed(partner, body)
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert await written(database) == before
