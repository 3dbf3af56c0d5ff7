"""The service template: the one way a Paddock service builds its app.

``services/<name>/app.py`` calls :func:`create_service_app` with its settings, routers,
consumers and whatever else its routes need on ``app.state``. The template wires what
every service has, the same way everywhere:

* the database, named after the service (the source of the events it publishes);
* with ``settings.bus_enabled``: the outbox relay and one :class:`kit.bus.consumer.EventConsumer`
  per :class:`Subscription` (consumer group ``<service>.<name>``);
* token verification against identity's JWKS, or the ``token_verifier`` given (identity
  verifies with its own keys; tests pass a :class:`kit.testing.tokens.TokenMinter`'s);
* with ``settings.bus_enabled``: the :class:`kit.revocation.RevocationView` that verifier
  consults, so a token identity revoked is refused here within a second (ADR 0009);
* everything :func:`kit.app.build_service_app` adds (problems, health, metrics).

Routes read ``app.state`` through :func:`kit.app.app_state` dependencies.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from fastapi import APIRouter, FastAPI

from contracts.catalog import Payload
from kit.app import Component, build_service_app
from kit.auth import JwksCache, TokenVerifier
from kit.bus.consumer import EventConsumer, Handler
from kit.bus.relay import OutboxRelay
from kit.db import Database
from kit.revocation import attach_revocation_view
from kit.settings import ServiceSettings


@dataclass(frozen=True)
class Subscription:
    """A consumer of the service: its name and a handler per payload type it reads."""

    name: str
    handlers: Mapping[type[Payload], Handler] = field(default_factory=dict)


def create_service_app(
    *,
    settings: ServiceSettings,
    title: str,
    routers: Sequence[APIRouter],
    subscriptions: Sequence[Subscription] = (),
    token_verifier: TokenVerifier | None = None,
    state: Mapping[str, object] | None = None,
    session_info: Mapping[str, object] | None = None,
    workers: Callable[[Database], Sequence[Component]] | None = None,
) -> FastAPI:
    """Build the service's app; ``state`` entries become ``app.state`` attributes and
    ``session_info`` entries are in every session's ``info`` (what consumers' handlers,
    which get only the session, the payload and the envelope, need besides).
    ``workers(database)`` gives background components of the service's own (webhooks'
    dispatcher), started after kit's and stopped before them."""
    database = Database(
        settings.database_url, service=settings.service_name, pool_size=settings.database_pool_size
    )
    database.session_info.update(session_info or {})
    components: list[Component] = []
    if settings.bus_enabled:
        components.append(
            OutboxRelay(
                database=database,
                kafka=settings.kafka,
                service=settings.service_name,
            )
        )
        components.extend(
            EventConsumer(
                name=subscription.name,
                service=settings.service_name,
                database=database,
                kafka=settings.kafka,
                handlers=subscription.handlers,
            )
            for subscription in subscriptions
        )
    if token_verifier is None:
        jwks = JwksCache(settings.jwks_url)
        components.append(jwks)
        token_verifier = TokenVerifier(
            jwks, issuer=settings.jwt_issuer, audience=settings.jwt_audience
        )
    if settings.bus_enabled and token_verifier.revocations is None:
        components.append(
            attach_revocation_view(
                token_verifier,
                kafka=settings.kafka,
                service=settings.service_name,
            )
        )
    if workers is not None:
        components.extend(workers(database))
    app = build_service_app(
        settings=settings,
        title=title,
        routers=routers,
        database=database,
        components=components,
    )
    app.state.token_verifier = token_verifier
    for name, value in (state or {}).items():
        setattr(app.state, name, value)
    return app
