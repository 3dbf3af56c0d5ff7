"""Partner reports (``partners.inbound``) applied to referrals.

A report names its customer as well as the sales system knows them; the referral is
the first found of: the referee account (``customer_user_id``), the share form's lead
(``lead_id``), the lead that holds the phone's claim (``customer_phone``). A customer no
referral knows is not a referred one: the report changes nothing here. A report with a
``report_id`` the partner already sent changes nothing either (partners resend), and a
share-form lead learns its account from the first report that names both.
"""

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from contracts.partners import SalesReport
from kit.db import dialect_insert
from services.referrals.config import ReferralsSettings
from services.referrals.models import PartnerReport, PhoneClaim, Referral, Stage
from services.referrals.service import funnel
from services.referrals.service.phones import InvalidPhone, PhoneBook


async def _first_report(
    session: AsyncSession, report: SalesReport, *, referral_id: uuid.UUID | None, at: datetime
) -> bool:
    """Record ``report`` as applied; false when the partner had sent it before."""
    statement = (
        dialect_insert(session, PartnerReport)
        .values(
            partner_id=report.partner_id,
            report_id=report.report_id,
            referral_id=referral_id,
            received_at=at,
        )
        .on_conflict_do_nothing()
        .returning(col(PartnerReport.report_id))
    )
    return (await session.execute(statement)).first() is not None


async def _referral_id(
    session: AsyncSession, report: SalesReport, phones: PhoneBook
) -> uuid.UUID | None:
    if report.customer_user_id is not None:
        found = await session.scalar(
            select(col(Referral.id)).where(col(Referral.referee_user_id) == report.customer_user_id)
        )
        if found is not None:
            return found
    if report.lead_id is not None:
        found = await session.scalar(
            select(col(Referral.id)).where(col(Referral.id) == report.lead_id)
        )
        if found is not None:
            return found
    if report.customer_phone is not None:
        try:
            phone_hash = phones.hash(phones.normalise(report.customer_phone))
        except InvalidPhone:
            return None
        claim = await session.get(PhoneClaim, phone_hash)
        return claim.referral_id if claim is not None else None
    return None


async def _learn_account(session: AsyncSession, referral: Referral, user_id: uuid.UUID) -> None:
    """The share-form lead registered: link the account unless it has a referrer already."""
    if referral.referee_user_id is not None or user_id == referral.referrer_id:
        return
    taken = await session.scalar(
        select(col(Referral.id)).where(col(Referral.referee_user_id) == user_id)
    )
    if taken is None:
        referral.referee_user_id = user_id


async def apply(
    *,
    session: AsyncSession,
    report: SalesReport,
    stage: Stage,
    phones: PhoneBook,
    settings: ReferralsSettings,
    received_at: datetime,
) -> bool:
    """Apply ``report`` (the step ``stage``); false when it changed nothing."""
    referral_id = await _referral_id(session, report, phones)
    if not await _first_report(session, report, referral_id=referral_id, at=received_at):
        return False
    if referral_id is None:
        return False
    referral = await funnel.locked(session=session, referral_id=referral_id)
    if report.customer_user_id is not None:
        await _learn_account(session, referral, report.customer_user_id)
    return await funnel.advance(
        session=session,
        referral=referral,
        stage=stage,
        occurred_at=report.occurred_at,
        actor=None,
        settings=settings,
    )
