"""Rewards' app factory: ``uvicorn --factory services.rewards.app:create_app``.

The service template (:func:`kit.service.create_service_app`) with rewards' routers and
its subscriptions (what identity, content and events announce).
"""

from fastapi import FastAPI

from kit.auth import TokenVerifier
from kit.service import create_service_app
from services.rewards.api import ROUTERS
from services.rewards.config import RewardsSettings
from services.rewards.consumers import SUBSCRIPTIONS


def create_app(
    settings: RewardsSettings | None = None, *, token_verifier: TokenVerifier | None = None
) -> FastAPI:
    return create_service_app(
        settings=settings or RewardsSettings(),
        title="Paddock rewards",
        routers=ROUTERS,
        subscriptions=SUBSCRIPTIONS,
        token_verifier=token_verifier,
    )
