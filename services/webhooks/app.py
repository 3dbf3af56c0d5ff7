"""Webhooks' app factory: ``uvicorn --factory services.webhooks.app:create_app``.

The service template (:func:`kit.service.create_service_app`) with webhooks' routers and
portal, its subscription (every event partners may subscribe to), the box that encrypts
partners' secrets, the policy of which targets may be called, and the dispatcher that sends
the queued deliveries (:mod:`.service.dispatch`), a component like the consumers.
"""

from fastapi import FastAPI

from kit.auth import TokenVerifier
from kit.service import create_service_app
from services.webhooks import portal
from services.webhooks.api import ROUTERS
from services.webhooks.config import WebhooksSettings
from services.webhooks.consumers import SUBSCRIPTIONS
from services.webhooks.service.dispatch import Dispatcher
from services.webhooks.service.secrets import SecretBox
from services.webhooks.service.targets import Resolver, TargetPolicy


def create_app(
    settings: WebhooksSettings | None = None,
    *,
    token_verifier: TokenVerifier | None = None,
    resolver: Resolver | None = None,
) -> FastAPI:
    """``resolver`` replaces DNS (tests name hosts that resolve where they say)."""
    settings = settings or WebhooksSettings()
    box = SecretBox(settings.secrets_key.get_secret_value())
    policy = TargetPolicy(
        require_https=settings.require_https, allowed_hosts=frozenset(settings.allowed_targets)
    )
    return create_service_app(
        settings=settings,
        title="Paddock webhooks",
        routers=(*ROUTERS, portal.router),
        subscriptions=SUBSCRIPTIONS,
        token_verifier=token_verifier,
        state={"secret_box": box, "target_policy": policy, "resolver": resolver},
        workers=lambda database: [
            Dispatcher(
                database=database, settings=settings, box=box, policy=policy, resolver=resolver
            )
        ],
    )
