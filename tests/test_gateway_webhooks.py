"""Webhooks behind the gateway: the event types and the key set need no token, a partner's
signed inbound webhook and its portal (cookie session, form posts, 303s) pass through
without one, partner apps and endpoints are admins' only, and schemathesis over webhooks'
part of the merged OpenAPI, through the gateway, as an admin.

Identity (which signs the tokens), webhooks and the gateway run on real uvicorn servers,
each on its own thread and event loop, with their own PostgreSQL databases and the bus off,
as in ``tests/test_gateway_referrals.py``. Partner names resolve to a public address
without leaving the machine.
"""

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from standardwebhooks import Webhook

from gateway.app import create_app as create_gateway
from gateway.config import GatewaySettings
from kit.db.migrate import upgrade
from kit.testing.servers import serving_in_thread
from services.identity.app import create_app as create_identity
from services.identity.tests import support
from services.identity.tests.support import identity_settings
from services.webhooks.app import create_app as create_webhooks
from services.webhooks.config import WebhooksSettings
from services.webhooks.tests.test_openapi import public_dns, webhooks_checks
from tests.openapi_documents import (
    WEBHOOKS_SECRETS_KEY,
    identity_app,
    merged_openapi,
    webhooks_app,
)

WEBHOOKS_PATHS = r"^/v1/(partner-apps|webhook-(endpoints|messages|event-types|keys)|partners)(/|$)"


@dataclass(frozen=True)
class Stack:
    gateway: str
    identity_database: str


@pytest.fixture(scope="module")
def stack(postgres_database_factory: Callable[[str], str]) -> Iterator[Stack]:
    identity_url = postgres_database_factory("identity_gateway_webhooks")
    webhooks_url = postgres_database_factory("webhooks_gateway")
    upgrade("identity", identity_url)
    upgrade("webhooks", webhooks_url)
    with serving_in_thread(
        create_identity(identity_settings(identity_url)), "identity"
    ) as identity:
        jwks_url = f"{identity}/.well-known/jwks.json"
        webhooks_config = WebhooksSettings(
            database_url=webhooks_url,
            bus_enabled=False,
            jwks_url=jwks_url,
            secrets_key=WEBHOOKS_SECRETS_KEY,
            delivery_timeout_seconds=1,
            portal_secure_cookie=False,
        )
        webhooks_server = create_webhooks(webhooks_config, resolver=public_dns)
        with serving_in_thread(webhooks_server, "webhooks") as webhooks:
            gateway_config = GatewaySettings(
                environment="test",
                bus_enabled=False,
                upstreams={"identity": identity, "webhooks": webhooks},
                jwks_url=jwks_url,
                rate_limit_per_user="100000/minute",
                rate_limit_per_ip="100000/minute",
            )
            with serving_in_thread(create_gateway(gateway_config), "gateway") as gateway:
                yield Stack(gateway, identity_url)


@pytest.fixture(scope="module")
def admin(stack: Stack) -> dict[str, str]:
    with httpx.Client(base_url=stack.gateway) as http:
        return support.new_superuser(http, stack.identity_database)[1]


def new_partner(http: httpx.Client, admin: dict[str, str]) -> dict[str, str]:
    slug = f"dealer-{uuid.uuid4().hex[:8]}"
    response = http.post(
        "/v1/partner-apps",
        json={"slug": slug, "name": "Dealer", "contact_email": f"{slug}@example.com"},
        headers=admin,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return {"slug": slug, "portal_key": body["portal_key"], "secret": body["inbound_secret"]}


def test_partners_read_the_event_types_their_asyncapi_and_the_key_set_without_a_token(
    stack: Stack,
) -> None:
    with httpx.Client(base_url=stack.gateway) as http:
        types = http.get("/v1/webhook-event-types")
        keys = http.get("/v1/webhook-keys")
        asyncapi = http.get("/v1/webhook-event-types/asyncapi.json")
    assert asyncapi.status_code == 200, asyncapi.text
    assert asyncapi.json()["asyncapi"] == "3.0.0"
    addresses = {channel["address"] for channel in asyncapi.json()["channels"].values()}
    assert {"referrals.funnel", "partners.inbound"} <= addresses
    assert "identity.users" not in addresses, "accounts stay inside the community"
    assert types.status_code == 200, types.text
    listed = {item["type"]: item["direction"] for item in types.json()["items"]}
    assert listed["referrals.funnel.lead_created.v1"] == "outbound"
    assert listed["partners.sales.vehicle_delivered.v1"] == "inbound"
    assert keys.status_code == 200
    assert "keys" in keys.json()


def test_a_signed_inbound_webhook_passes_the_gateway_without_a_token(
    stack: Stack, admin: dict[str, str]
) -> None:
    with httpx.Client(base_url=stack.gateway) as http:
        partner = new_partner(http, admin)
        body = (
            '{"type":"partners.sales.test_drive_booked.v1","data":{"customer_ref":"c-1",'
            '"occurred_at":"2026-12-01T10:00:00Z"}}'
        )
        webhook_id = f"msg_{uuid.uuid4().hex}"
        now = datetime.now(UTC)
        headers = {
            "webhook-id": webhook_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(partner["secret"]).sign(webhook_id, now, body),
            "content-type": "application/json",
        }
        accepted = http.post(
            f"/v1/partners/inbound/{partner['slug']}", content=body, headers=headers
        )
        forged = http.post(
            f"/v1/partners/inbound/{partner['slug']}",
            content=body,
            headers={**headers, "webhook-signature": "v1,AAAA"},
        )
    assert accepted.status_code == 202, accepted.text
    assert forged.status_code == 401


def test_a_partner_signs_in_to_the_portal_through_the_gateway(
    stack: Stack, admin: dict[str, str]
) -> None:
    with httpx.Client(base_url=stack.gateway) as http:
        partner = new_partner(http, admin)
        signed_in = http.post(
            "/v1/partners/portal/sign-in",
            data={"partner": partner["slug"], "portal_key": partner["portal_key"]},
        )
        assert signed_in.status_code == 303, signed_in.text
        assert "paddock_portal" in signed_in.headers["set-cookie"]
        page = http.get(signed_in.headers["location"])
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert re.search(r'name="csrf"', page.text)


def test_partner_apps_and_endpoints_are_admins_only(stack: Stack, admin: dict[str, str]) -> None:
    someone = uuid.uuid4()
    admin_only = (
        ("GET", "/v1/partner-apps"),
        ("GET", f"/v1/partner-apps/{someone}"),
        ("GET", f"/v1/webhook-endpoints/{someone}"),
        ("GET", f"/v1/webhook-messages/msg_{someone.hex}"),
    )
    with httpx.Client(base_url=stack.gateway) as http:
        fan = support.new_fan(http, "Mei")
        anonymous = [http.request(method, path) for method, path in admin_only]
        refused = [http.request(method, path, headers=fan) for method, path in admin_only]
        listed = http.get("/v1/partner-apps", headers=admin)
    assert all(response.status_code == 401 for response in anonymous)
    assert all(response.status_code == 403 for response in refused)
    assert listed.status_code == 200, listed.text


MERGED_OPENAPI = merged_openapi({"identity": identity_app(), "webhooks": webhooks_app()})
schema = schemathesis.openapi.from_dict(MERGED_OPENAPI).include(path_regex=WEBHOOKS_PATHS)


@schema.parametrize()
@settings(max_examples=20, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_webhooks_through_the_gateway_conforms(
    case: schemathesis.Case, stack: Stack, admin: dict[str, str]
) -> None:
    case.call_and_validate(
        base_url=stack.gateway,
        headers=admin,
        checks=webhooks_checks(case.method, case.path),
    )
