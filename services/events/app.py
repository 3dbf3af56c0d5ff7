"""Events' app factory: ``uvicorn --factory services.events.app:create_app``.

The service template (:func:`kit.service.create_service_app`) with events' routers, its
identity subscription, the QR signer of check-in codes, the hold policy of waitlist offers
(in every session, consumers' included), and the queue's allocator and ticket watch
(:mod:`.service.allocator`, :mod:`.service.tickets`), components of its own.
"""

from fastapi import FastAPI

from kit.auth import TokenVerifier
from kit.service import create_service_app
from services.events.api import ROUTERS
from services.events.config import EventsSettings
from services.events.consumers import SUBSCRIPTIONS
from services.events.service.allocator import Allocator
from services.events.service.checkin import QrSigner
from services.events.service.holds import POLICY_KEY, OfferPolicy
from services.events.service.tickets import TicketWatch


def create_app(
    settings: EventsSettings | None = None, *, token_verifier: TokenVerifier | None = None
) -> FastAPI:
    settings = settings or EventsSettings()
    signer = QrSigner(
        secret=settings.qr_secret.get_secret_value().encode(),
        window_seconds=settings.qr_window_seconds,
        valid_windows=settings.qr_valid_windows,
    )
    watch = TicketWatch()
    return create_service_app(
        settings=settings,
        title="Paddock events",
        routers=ROUTERS,
        subscriptions=SUBSCRIPTIONS,
        token_verifier=token_verifier,
        state={"qr_signer": signer, "ticket_watch": watch},
        session_info={POLICY_KEY: OfferPolicy.from_settings(settings)},
        workers=lambda database: [
            Allocator(database=database, settings=settings, watch=watch),
            watch,
        ],
    )
