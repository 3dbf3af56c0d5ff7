"""Events' app factory: ``uvicorn --factory services.events.app:create_app``.

Wires the database, the outbox relay and the identity consumer (unless
``EVENTS_BUS_ENABLED=false``), token verification against identity's JWKS (or the
``token_verifier`` a test passes) and the QR signer onto :func:`kit.app.build_service_app`.
"""

from fastapi import FastAPI

from kit.app import Component, build_service_app
from kit.auth import JwksCache, TokenVerifier
from kit.bus.relay import OutboxRelay
from kit.db import Database
from services.events.api import ROUTERS
from services.events.config import EventsSettings
from services.events.consumers import identity_consumer
from services.events.service.checkin import QrSigner


def create_app(
    settings: EventsSettings | None = None, *, token_verifier: TokenVerifier | None = None
) -> FastAPI:
    settings = settings or EventsSettings()
    database = Database(settings.database_url, pool_size=settings.database_pool_size)
    components: list[Component] = []
    if settings.bus_enabled:
        components += [
            OutboxRelay(
                database=database,
                bootstrap_servers=settings.kafka_bootstrap_servers,
                service=settings.service_name,
            ),
            identity_consumer(database, settings.kafka_bootstrap_servers),
        ]
    if token_verifier is None:
        jwks = JwksCache(settings.jwks_url)
        components.append(jwks)
        token_verifier = TokenVerifier(
            jwks, issuer=settings.jwt_issuer, audience=settings.jwt_audience
        )
    app = build_service_app(
        settings=settings,
        title="Paddock events",
        routers=ROUTERS,
        database=database,
        components=components,
    )
    app.state.token_verifier = token_verifier
    app.state.qr_signer = QrSigner(
        secret=settings.qr_secret.get_secret_value().encode(),
        window_seconds=settings.qr_window_seconds,
        valid_windows=settings.qr_valid_windows,
    )
    return app
