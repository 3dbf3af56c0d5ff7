"""How a prospect becomes a referrer's lead, and who referred whom.

Three ways: registering with the code (identity's ``UserRegistered``), the share form
(name, phone, city, consent, test-drive wish; no account needed) and an account naming
its referrer afterwards (``PUT /v1/me/referrer``) within ``REFERRALS_ATTRIBUTION_DAYS`` of
registering. Attribution is first come: an account has one referrer for good
(``UNIQUE (referee_user_id)``), a phone belongs to one lead until its claim lapses
(:class:`~services.referrals.models.PhoneClaim`), and a later code steals neither.

Every way first locks the referrer's member row, so the velocity check counts leads that
arrive together. The fraud checks are in :mod:`.checks`.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from kit.bus.outbox import publish
from kit.db import dialect_insert
from kit.problems import Conflict, Problem
from services.referrals.config import ReferralsSettings
from services.referrals.models import Member, PhoneClaim, Referral, Source
from services.referrals.service import checks, members
from services.referrals.service.funnel import lead_created
from services.referrals.service.phones import PhoneBook


class ConsentRequired(Problem):
    status, code = 422, "consent-required"

    def __init__(self) -> None:
        super().__init__("the prospect must consent to being contacted (consent: true)")


class DuplicatePhone(Conflict):
    code = "duplicate-phone"

    def __init__(self) -> None:
        super().__init__("this phone number is already another referral's lead")


class AlreadyAttributed(Conflict):
    code = "already-attributed"

    def __init__(self) -> None:
        super().__init__("this account already has a referrer")


class AttributionWindowClosed(Conflict):
    code = "attribution-window-closed"

    def __init__(self) -> None:
        super().__init__("a referrer can only be named within the attribution window")


@dataclass(frozen=True)
class ShareForm:
    code: str
    name: str
    phone: str
    city: str | None
    consent: bool
    test_drive_requested: bool


async def _lock_referrer(session: AsyncSession, *, code: str) -> Member:
    return await members.by_code(session=session, code=code, lock=True)


async def _claim_phone(
    session: AsyncSession,
    *,
    phone_hash: str,
    referral_id: uuid.UUID,
    now: datetime,
    lapse: datetime,
) -> bool:
    """Claim the phone for ``referral_id``: free, or its claim lapsed without an order."""
    insert = dialect_insert(session, PhoneClaim).values(
        phone_hash=phone_hash, referral_id=referral_id, claimed_at=now, ordered=False
    )
    statement = insert.on_conflict_do_update(
        index_elements=["phone_hash"],
        set_={"referral_id": referral_id, "claimed_at": now, "ordered": False},
        where=(col(PhoneClaim.claimed_at) < lapse) & col(PhoneClaim.ordered).is_(False),
    ).returning(col(PhoneClaim.phone_hash))
    return (await session.execute(statement)).first() is not None


async def from_share_form(
    *,
    session: AsyncSession,
    form: ShareForm,
    caller: uuid.UUID | None,
    device: str | None,
    phones: PhoneBook,
    settings: ReferralsSettings,
    now: datetime,
) -> tuple[Referral, Member]:
    """The share form's lead, or a problem and nothing written."""
    if not form.consent:
        raise ConsentRequired()
    phone = phones.normalise(form.phone)
    phone_hash = phones.hash(phone)
    referrer = await _lock_referrer(session, code=form.code)
    if checks.is_self_referral(referrer, user_id=caller, device=device):
        raise checks.SelfReferral()
    checks.refuse_blocked(
        await checks.blocked_reasons(
            session=session, referrer_id=referrer.user_id, phone_hash=phone_hash
        )
    )
    checks.refuse_velocity(
        await checks.velocity(
            session=session, referrer_id=referrer.user_id, now=now, settings=settings
        )
    )
    referral = Referral(
        referrer_id=referrer.user_id,
        source=Source.SHARE_FORM,
        name=form.name,
        phone=phone,
        phone_hash=phone_hash,
        city=form.city,
        test_drive_requested=form.test_drive_requested,
        created_at=now,
        updated_at=now,
    )
    lapse = now - timedelta(days=settings.attribution_days)
    if not await _claim_phone(
        session, phone_hash=phone_hash, referral_id=referral.id, now=now, lapse=lapse
    ):
        raise DuplicatePhone()
    session.add(referral)
    publish(session, lead_created(referral), actor=caller)
    return referral, referrer


async def _insert_for_account(session: AsyncSession, referral: Referral) -> bool:
    """Insert ``referral`` unless its referee already has a referrer (first one wins)."""
    statement = (
        dialect_insert(session, Referral)
        .values(**referral.model_dump())
        .on_conflict_do_nothing(index_elements=["referee_user_id"])
        .returning(col(Referral.id))
    )
    return (await session.execute(statement)).first() is not None


async def from_registration(
    *,
    session: AsyncSession,
    user_id: uuid.UUID,
    code: str,
    device: str | None,
    registered_at: datetime,
    settings: ReferralsSettings,
) -> Referral | None:
    """The lead of an account registered with ``code``; held for staff when a check fails,
    none when the code names nobody (or the new account itself)."""
    try:
        referrer = await _lock_referrer(session, code=code)
    except (members.MalformedCode, members.UnknownCode):
        return None
    if referrer.user_id == user_id:
        return None
    reasons = await checks.blocked_reasons(session=session, referrer_id=referrer.user_id)
    if checks.is_self_referral(referrer, user_id=None, device=device):
        reasons.append(checks.SELF_REFERRAL)
    found = await checks.velocity(
        session=session, referrer_id=referrer.user_id, now=registered_at, settings=settings
    )
    if found.exceeded:
        reasons.append(checks.VELOCITY)
    referral = Referral(
        referrer_id=referrer.user_id,
        referee_user_id=user_id,
        source=Source.REGISTRATION,
        announced=not reasons,
        review_reasons=reasons,
        review_open=bool(reasons),
        created_at=registered_at,
        updated_at=registered_at,
    )
    if not await _insert_for_account(session, referral):
        return None
    if referral.announced:
        publish(session, lead_created(referral), actor=user_id)
    return referral


async def claim_referrer(
    *,
    session: AsyncSession,
    user_id: uuid.UUID,
    code: str,
    device: str | None,
    settings: ReferralsSettings,
    now: datetime,
) -> tuple[Referral, Member]:
    """The caller names their referrer after registering, or a problem and nothing written."""
    me = await members.ensure_member(session=session, user_id=user_id)
    registered = me.registered_at or me.created_at
    if now > registered + timedelta(days=settings.attribution_days):
        raise AttributionWindowClosed()
    if await referrer_of(session=session, user_id=user_id) is not None:
        raise AlreadyAttributed()
    referrer = await _lock_referrer(session, code=code)
    if checks.is_self_referral(referrer, user_id=user_id, device=device):
        raise checks.SelfReferral()
    checks.refuse_blocked(
        await checks.blocked_reasons(session=session, referrer_id=referrer.user_id)
    )
    checks.refuse_velocity(
        await checks.velocity(
            session=session, referrer_id=referrer.user_id, now=now, settings=settings
        )
    )
    referral = Referral(
        referrer_id=referrer.user_id,
        referee_user_id=user_id,
        source=Source.CLAIMED,
        created_at=now,
        updated_at=now,
    )
    if not await _insert_for_account(session, referral):
        raise AlreadyAttributed()
    publish(session, lead_created(referral), actor=user_id)
    return referral, referrer


async def referrer_of(*, session: AsyncSession, user_id: uuid.UUID) -> Referral | None:
    """The referral that made ``user_id`` someone's referee, if any."""
    found: Referral | None = await session.scalar(
        select(Referral).where(col(Referral.referee_user_id) == user_id)
    )
    return found
