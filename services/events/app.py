"""Events' app factory: ``uvicorn --factory services.events.app:create_app``.

The service template (:func:`kit.service.create_service_app`) with events' routers, its
identity subscription, the QR signer of check-in codes and the no-show penalty policy.
"""

from fastapi import FastAPI

from kit.auth import TokenVerifier
from kit.service import create_service_app
from services.events.api import ROUTERS
from services.events.config import EventsSettings
from services.events.consumers import SUBSCRIPTIONS
from services.events.service.checkin import QrSigner
from services.events.service.penalties import PenaltyPolicy


def create_app(
    settings: EventsSettings | None = None, *, token_verifier: TokenVerifier | None = None
) -> FastAPI:
    settings = settings or EventsSettings()
    signer = QrSigner(
        secret=settings.qr_secret.get_secret_value().encode(),
        window_seconds=settings.qr_window_seconds,
        valid_windows=settings.qr_valid_windows,
    )
    return create_service_app(
        settings=settings,
        title="Paddock events",
        routers=ROUTERS,
        subscriptions=SUBSCRIPTIONS,
        token_verifier=token_verifier,
        state={"qr_signer": signer, "penalty_policy": PenaltyPolicy.from_settings(settings)},
    )
