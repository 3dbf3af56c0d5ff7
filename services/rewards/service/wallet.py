"""What a member reads of their own account: the wallet and the ledger, newest first."""

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from kit.api.pagination import Keyset, Order, PageParams
from services.rewards.models import Account, Currency, LedgerEntry

NEWEST = Keyset(
    Order(col(LedgerEntry.created_at), descending=True), Order(col(LedgerEntry.id), descending=True)
)


async def account_of(*, session: AsyncSession, user_id: uuid.UUID) -> Account:
    """The member's account; a member rewards has not seen yet has an empty one."""
    return await session.get(Account, user_id) or Account(user_id=user_id)


async def entries(
    *, session: AsyncSession, user_id: uuid.UUID, currency: Currency | None, page: PageParams
) -> tuple[list[LedgerEntry], str | None]:
    query = select(LedgerEntry).where(col(LedgerEntry.user_id) == user_id)
    if currency is not None:
        query = query.where(col(LedgerEntry.currency) == currency)
    found = (await session.scalars(NEWEST.paged(query, page))).all()
    return NEWEST.page(found, page, lambda entry: (entry.created_at, entry.id))
