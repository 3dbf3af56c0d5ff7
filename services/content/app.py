"""Content's app factory: ``uvicorn --factory services.content.app:create_app``.

The service template (:func:`kit.service.create_service_app`) with content's routers and
its subscriptions (identity's members, rewards' charges for weighted votes).
"""

from fastapi import FastAPI

from kit.auth import TokenVerifier
from kit.service import create_service_app
from services.content.api import ROUTERS
from services.content.config import ContentSettings
from services.content.consumers import SUBSCRIPTIONS


def create_app(
    settings: ContentSettings | None = None, *, token_verifier: TokenVerifier | None = None
) -> FastAPI:
    return create_service_app(
        settings=settings or ContentSettings(),
        title="Paddock content",
        routers=ROUTERS,
        subscriptions=SUBSCRIPTIONS,
        token_verifier=token_verifier,
    )
