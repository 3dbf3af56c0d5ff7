"""Admin grants of community value and adjustments of points: each one ledger entry that
names its admin (``created_by``) and its reason (``note``), and an audit record.

Their sources are ``admin.grant`` and ``admin.adjustment`` with a fresh id: a retried
request is made safe by its ``Idempotency-Key`` (the API's replay record), not by the source.
"""

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from kit.api.pagination import Keyset, Order, PageParams
from kit.audit import record_action
from kit.auth import Principal
from kit.ids import new_id
from services.rewards.models import EntryKind, LedgerEntry
from services.rewards.schemas import AdjustmentCreate, GrantCreate
from services.rewards.service import ledger
from services.rewards.service.ledger import Source

GRANT_SOURCE = "admin.grant"
ADJUSTMENT_SOURCE = "admin.adjustment"
NEWEST = Keyset(
    Order(col(LedgerEntry.created_at), descending=True), Order(col(LedgerEntry.id), descending=True)
)


async def grant(
    *, session: AsyncSession, data: GrantCreate, principal: Principal, now: datetime
) -> LedgerEntry:
    entry = await ledger.credit_value(
        session=session,
        user_id=data.user_id,
        dimension=data.dimension,
        amount=data.amount,
        source=Source(type=GRANT_SOURCE, id=str(new_id())),
        at=now,
        kind=EntryKind.GRANT,
        note=data.reason,
        created_by=principal.user_id,
    )
    assert entry is not None  # a fresh source
    record_action(
        session,
        actor=principal.user_id,
        action="rewards.granted",
        subject=data.user_id,
        entry_id=entry.id,
        dimension=data.dimension,
        amount=data.amount,
        reason=data.reason,
    )
    return entry


async def adjust(
    *, session: AsyncSession, data: AdjustmentCreate, principal: Principal, now: datetime
) -> LedgerEntry:
    """Credit or debit points; a debit beyond the spendable points is a 409."""
    source = Source(type=ADJUSTMENT_SOURCE, id=str(new_id()))
    move = ledger.credit_points if data.amount > 0 else ledger.spend_points
    entry = await move(
        session=session,
        user_id=data.user_id,
        amount=abs(data.amount),
        source=source,
        at=now,
        kind=EntryKind.ADJUST,
        note=data.reason,
        created_by=principal.user_id,
    )
    assert entry is not None  # a fresh source
    record_action(
        session,
        actor=principal.user_id,
        action="rewards.adjusted",
        subject=data.user_id,
        entry_id=entry.id,
        amount=data.amount,
        reason=data.reason,
    )
    return entry


async def list_grants(
    *, session: AsyncSession, user_id: uuid.UUID | None, page: PageParams
) -> tuple[list[LedgerEntry], str | None]:
    """Grants and adjustments, newest first; of one member when ``user_id`` is given."""
    query = select(LedgerEntry).where(
        col(LedgerEntry.kind).in_([EntryKind.GRANT, EntryKind.ADJUST]),
        col(LedgerEntry.source_type).in_([GRANT_SOURCE, ADJUSTMENT_SOURCE]),
    )
    if user_id is not None:
        query = query.where(col(LedgerEntry.user_id) == user_id)
    found = (await session.scalars(NEWEST.paged(query, page))).all()
    return NEWEST.page(found, page, lambda entry: (entry.created_at, entry.id))
