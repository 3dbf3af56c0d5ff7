"""Identity's app factory: ``uvicorn --factory services.identity.app:create_app``.

Wires the database, the outbox relay, the signing keys (identity verifies its own tokens
with its own JWKS), the password hasher and the routers onto :func:`kit.app.build_service_app`.
"""

from fastapi import FastAPI

from kit.app import build_service_app
from kit.auth import StaticKeys, TokenVerifier
from kit.bus.relay import OutboxRelay
from kit.db import Database
from services.identity.api import ROUTERS
from services.identity.config import IdentitySettings
from services.identity.passwords import Passwords
from services.identity.service import Lockout
from services.identity.tokens import KeyRing, TokenIssuer


def create_app(settings: IdentitySettings | None = None) -> FastAPI:
    settings = settings or IdentitySettings()
    database = Database(settings.database_url, pool_size=settings.database_pool_size)
    relay = OutboxRelay(
        database=database,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        service=settings.service_name,
    )
    app = build_service_app(
        settings=settings,
        title="Paddock identity",
        routers=ROUTERS,
        database=database,
        components=[relay],
    )
    keys = KeyRing.from_settings(settings)
    app.state.key_ring = keys
    app.state.token_issuer = TokenIssuer(
        keys=keys,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        access_ttl=settings.access_token_ttl,
        refresh_ttl=settings.refresh_token_ttl,
    )
    app.state.token_verifier = TokenVerifier(
        StaticKeys(keys.jwks()), issuer=settings.jwt_issuer, audience=settings.jwt_audience
    )
    app.state.passwords = Passwords.from_settings(settings)
    app.state.lockout = Lockout(settings.lockout_max_failures, settings.lockout_duration)
    return app
