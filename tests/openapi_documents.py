"""The gateway's merged OpenAPI as it serves it, built without servers: the real gateway
app's own document merged with the real services' documents (each app's ``openapi()``),
as the gateway merges what it fetches from its upstreams."""

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI

from gateway.app import create_app as create_gateway
from gateway.config import GatewaySettings
from gateway.openapi import merge
from gateway.routing import PublicRoutes, RouteTable
from services.content.app import create_app as create_content
from services.content.config import ContentSettings
from services.events.app import create_app as create_events
from services.events.config import EventsSettings
from services.events.tests.support import QR_SECRET
from services.identity.app import create_app as create_identity
from services.identity.tests.support import identity_settings
from services.referrals.app import create_app as create_referrals
from services.referrals.config import ReferralsSettings
from services.rewards.app import create_app as create_rewards
from services.rewards.config import RewardsSettings
from services.webhooks.app import create_app as create_webhooks
from services.webhooks.config import WebhooksSettings

UNREACHABLE = "http://127.0.0.1:9"  # merge() needs the route table, never a connection
REFERRALS_PHONE_HASH_KEY = "test-phone-hash-key-0123456789"
"""Not a placeholder: referrals refuses one outside development, and tests are not that."""
WEBHOOKS_SECRETS_KEY = "test-webhooks-secrets-key-0123456789"


def identity_app() -> FastAPI:
    return create_identity(identity_settings("sqlite+aiosqlite://", "127.0.0.1:9"))


def events_app() -> FastAPI:
    settings = EventsSettings(
        database_url="sqlite+aiosqlite://", bus_enabled=False, qr_secret=QR_SECRET
    )
    return create_events(settings)


def content_app() -> FastAPI:
    return create_content(ContentSettings(database_url="sqlite+aiosqlite://", bus_enabled=False))


def rewards_app() -> FastAPI:
    return create_rewards(RewardsSettings(database_url="sqlite+aiosqlite://", bus_enabled=False))


def referrals_app() -> FastAPI:
    settings = ReferralsSettings(
        database_url="sqlite+aiosqlite://",
        bus_enabled=False,
        phone_hash_key=REFERRALS_PHONE_HASH_KEY,
    )
    return create_referrals(settings)


def webhooks_app() -> FastAPI:
    settings = WebhooksSettings(
        database_url="sqlite+aiosqlite://",
        bus_enabled=False,
        secrets_key=WEBHOOKS_SECRETS_KEY,
    )
    return create_webhooks(settings)


def merged_openapi(upstreams: Mapping[str, FastAPI]) -> dict[str, Any]:
    """The gateway's document with ``upstreams`` (name → app) routed and merged."""
    config = GatewaySettings(
        environment="test", upstreams=dict.fromkeys(upstreams, UNREACHABLE), bus_enabled=False
    )
    return merge(
        create_gateway(config).openapi(),
        {name: app.openapi() for name, app in upstreams.items()},
        RouteTable(config.routes),
        PublicRoutes(config.public_routes),
    )
