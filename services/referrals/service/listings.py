"""What the referrer, the referee and staff read: a member's summary and referrals, the
referral that names a member's referrer, staff's list with its filters."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from kit.api.pagination import Keyset, Order, PageParams
from services.referrals.models import Member, Referral, RewardState, Stage

NEWEST_FIRST = Keyset(
    Order(col(Referral.created_at), descending=True), Order(col(Referral.id), descending=True)
)


@dataclass(frozen=True)
class Summary:
    leads: int
    test_drives: int
    orders: int
    deliveries: int
    pending: int
    approved: int


def _count_where(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


async def summary(*, session: AsyncSession, referrer_id: uuid.UUID) -> Summary:
    row = (
        await session.execute(
            select(
                func.count(),
                func.count(col(Referral.test_drive_done_at)),
                func.count(col(Referral.order_placed_at)),
                func.count(col(Referral.delivered_at)),
                _count_where(col(Referral.reward_state) == RewardState.PENDING),
                _count_where(col(Referral.reward_state) == RewardState.APPROVED),
            ).where(col(Referral.referrer_id) == referrer_id)
        )
    ).one()
    return Summary(*(int(value) for value in row))


async def mine(
    *, session: AsyncSession, referrer_id: uuid.UUID, params: PageParams
) -> tuple[list[tuple[Referral, str | None]], str | None]:
    """The referrer's referrals, newest first, each with its referee's public name."""
    query = (
        select(Referral, col(Member.display_name))
        .outerjoin(Member, col(Member.user_id) == col(Referral.referee_user_id))
        .where(col(Referral.referrer_id) == referrer_id)
    )
    rows = (await session.execute(NEWEST_FIRST.paged(query, params))).all()
    found, cursor = NEWEST_FIRST.page(rows, params, lambda row: (row[0].created_at, row[0].id))
    return [(referral, name) for referral, name in found], cursor


@dataclass(frozen=True)
class StaffFilter:
    review_open: bool | None = None
    reward_state: RewardState | None = None
    stage: Stage | None = None
    referrer_id: uuid.UUID | None = None


async def for_staff(
    *, session: AsyncSession, where: StaffFilter, params: PageParams
) -> tuple[Sequence[Referral], str | None]:
    query = select(Referral)
    if where.review_open is not None:
        query = query.where(col(Referral.review_open).is_(where.review_open))
    if where.reward_state is not None:
        query = query.where(col(Referral.reward_state) == where.reward_state)
    if where.stage is not None:
        query = query.where(col(Referral.stage) == where.stage)
    if where.referrer_id is not None:
        query = query.where(col(Referral.referrer_id) == where.referrer_id)
    rows = (await session.scalars(NEWEST_FIRST.paged(query, params))).all()
    return NEWEST_FIRST.page(rows, params, lambda referral: (referral.created_at, referral.id))
