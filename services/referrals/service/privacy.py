"""Erasing a lead's personal data: its name, phone (and the phone's hash and claim) and
city go; its steps, its reward and the audit record of the erasure stay."""

import uuid

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from kit.audit import record_action
from kit.db import utcnow
from services.referrals.models import PhoneClaim, Referral
from services.referrals.service.funnel import locked


async def erase_lead(*, session: AsyncSession, referral_id: uuid.UUID, by: uuid.UUID) -> Referral:
    referral = await locked(session=session, referral_id=referral_id)
    await session.execute(delete(PhoneClaim).where(col(PhoneClaim.referral_id) == referral.id))
    referral.name = referral.phone = referral.phone_hash = referral.city = None
    referral.erased_at = referral.erased_at or utcnow()
    referral.updated_at = utcnow()
    record_action(session, actor=by, action="referral.personal_data_erased", subject=referral.id)
    return referral
