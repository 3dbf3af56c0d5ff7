"""Referrals' app factory: ``uvicorn --factory services.referrals.app:create_app``.

The service template (:func:`kit.service.create_service_app`) with referrals' routers, its
subscriptions (identity's accounts, the partners' sales reports) and the phone book that
normalises and hashes phone numbers, for routes and handlers alike.
"""

from fastapi import FastAPI

from kit.auth import TokenVerifier
from kit.service import create_service_app
from services.referrals.api import ROUTERS
from services.referrals.config import ReferralsSettings
from services.referrals.consumers import CONTEXT_KEY, SUBSCRIPTIONS, ConsumerContext
from services.referrals.service.phones import PhoneBook


def create_app(
    settings: ReferralsSettings | None = None, *, token_verifier: TokenVerifier | None = None
) -> FastAPI:
    settings = settings or ReferralsSettings()
    phones = PhoneBook(
        key=settings.phone_hash_key.get_secret_value().encode(),
        default_region=settings.default_region,
    )
    return create_service_app(
        settings=settings,
        title="Paddock referrals",
        routers=ROUTERS,
        subscriptions=SUBSCRIPTIONS,
        token_verifier=token_verifier,
        state={"phone_book": phones},
        session_info={CONTEXT_KEY: ConsumerContext(settings=settings, phones=phones)},
    )
