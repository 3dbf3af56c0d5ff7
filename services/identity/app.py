"""Identity's app factory: ``uvicorn --factory services.identity.app:create_app``.

The service template (:func:`kit.service.create_service_app`) wires the database, the
outbox relay and the consumers (unless ``IDENTITY_BUS_ENABLED=false``); identity verifies
access tokens with its own JWKS instead of fetching it, and puts what its routes need on
``app.state``: the signing keys, the token issuer, the password hasher, the login
throttling rules and how many proxies append to ``X-Forwarded-For``.
"""

from fastapi import FastAPI

from kit.auth import StaticKeys, TokenVerifier
from kit.service import create_service_app
from services.identity.api import ROUTERS
from services.identity.config import IdentitySettings
from services.identity.consumers import SUBSCRIPTIONS
from services.identity.passwords import Passwords
from services.identity.service.throttle import Throttling
from services.identity.tokens import KeyRing, TokenIssuer


def create_app(settings: IdentitySettings | None = None) -> FastAPI:
    settings = settings or IdentitySettings()
    keys = KeyRing.from_settings(settings)
    return create_service_app(
        settings=settings,
        title="Paddock identity",
        routers=ROUTERS,
        subscriptions=SUBSCRIPTIONS,
        token_verifier=TokenVerifier(
            StaticKeys(keys.jwks()), issuer=settings.jwt_issuer, audience=settings.jwt_audience
        ),
        state={
            "key_ring": keys,
            "token_issuer": TokenIssuer(
                keys=keys,
                issuer=settings.jwt_issuer,
                audience=settings.jwt_audience,
                access_ttl=settings.access_token_ttl,
                refresh_ttl=settings.refresh_token_ttl,
            ),
            "passwords": Passwords.from_settings(settings),
            "throttling": Throttling(
                free_failures=settings.login_free_failures,
                base_delay=settings.login_base_delay,
                max_delay=settings.login_max_delay,
                client_window=settings.login_client_window,
                account_max_failures=settings.login_account_max_failures,
                account_window=settings.login_account_window,
            ),
            "forwarded_hops": settings.forwarded_hops,
        },
    )
