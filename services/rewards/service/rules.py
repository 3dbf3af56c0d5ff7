"""Earning by the rules: every active rule matching an event's type and role credits its
participant; a removal takes back what a reference earned."""

import uuid
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.rewards.models import Currency, Dimension, LedgerEntry, Rule
from services.rewards.service import ledger
from services.rewards.service.ledger import Source


async def earn(
    *,
    session: AsyncSession,
    user_id: uuid.UUID,
    source_type: str,
    source_id: str,
    role: str,
    reference_type: str | None,
    reference_id: str | None,
    at: datetime,
) -> list[LedgerEntry]:
    """Apply every rule active at ``at`` for ``source_type`` and ``role``; the entries written."""
    found = await session.scalars(
        select(Rule)
        .where(col(Rule.source_type) == source_type, col(Rule.role) == role)
        .where(col(Rule.starts_at) <= at, or_(col(Rule.ends_at).is_(None), col(Rule.ends_at) > at))
        .order_by(col(Rule.id))
    )
    source = Source(source_type, source_id, role, reference_type, reference_id)
    written: list[LedgerEntry] = []
    for rule in found.all():
        if rule.currency == Currency.POINTS:
            entry = await ledger.credit_points(
                session=session,
                user_id=user_id,
                amount=rule.amount,
                source=source,
                at=at,
                rule_id=rule.id,
            )
        else:
            entry = await ledger.credit_value(
                session=session,
                user_id=user_id,
                dimension=Dimension(rule.dimension or ""),
                amount=rule.amount,
                source=source,
                at=at,
                rule_id=rule.id,
            )
        if entry is not None:
            written.append(entry)
    return written


async def reverse_reference(
    *,
    session: AsyncSession,
    reference_type: str,
    reference_id: str,
    source_type: str,
    source_id: str,
    at: datetime,
) -> list[LedgerEntry]:
    """Take back every credit earned through the reference (each under its own source id:
    one removal reverses several credits of one member); the reversals written."""
    reversals: list[LedgerEntry] = []
    credits = await ledger.credits_for(
        session=session, reference_type=reference_type, reference_id=reference_id
    )
    for entry in credits:
        source = Source(source_type, f"{source_id}:{entry.id}")
        reversal = await ledger.reverse(session=session, entry=entry, source=source, at=at)
        if reversal is not None:
            reversals.append(reversal)
    return reversals
