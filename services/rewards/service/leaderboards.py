"""Leaderboards: this year's community value, this quarter's growth and this year's rewarded
referrals, in the whole community or one city; and where one member ranks on them.

A board reads the accounts of its current period only (``value_year``, ``value_quarter``,
``referral_year``: an account not touched since keeps last period's number there), never
deleted accounts, and only scores above zero. Order: the score, highest first, then the
user id, highest first, which is exactly the order of the accounts' partial indexes read
backwards; a rank is 1 + the accounts ahead, counted on the same index range.

The referrers' board counts approved referrals (:func:`count_referral`, once per referral
by its :class:`~services.rewards.models.ReferralReward` row, in the approval's year) and
uncounts a voided one once (:func:`void_referral`), in the year it was counted while that
is still the account's ``referral_year`` (a past year's board is not rewritten).
"""

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from kit.db import dialect_insert, utcnow
from kit.problems import Problem
from services.rewards.models import Account, ReferralReward
from services.rewards.service import ledger


class BoardKind(enum.StrEnum):
    VALUE = "value"
    REFERRERS = "referrers"


class Period(enum.StrEnum):
    YEAR = "year"
    QUARTER = "quarter"


class BoardNotOffered(Problem):
    status, code = 422, "board-not-offered"


@dataclass(frozen=True)
class Board:
    """One board: which column holds its period, which its score, and the current period."""

    period_column: Any
    score_column: Any
    period: int

    def where(self, city: str | None) -> list[ColumnElement[bool]]:
        conditions = [
            self.period_column == self.period,
            col(Account.deleted_at).is_(None),
            self.score_column > 0,
        ]
        if city is not None:
            conditions.append(col(Account.city) == city)
        return conditions


@dataclass(frozen=True)
class Placing:
    rank: int
    account: Account
    score: int


def board(kind: BoardKind, period: Period, *, now: datetime) -> Board:
    match kind, period:
        case BoardKind.VALUE, Period.YEAR:
            return Board(col(Account.value_year), col(Account.year_value), now.year)
        case BoardKind.VALUE, Period.QUARTER:
            return Board(
                col(Account.value_quarter), col(Account.quarter_value), ledger.quarter_of(now)
            )
        case BoardKind.REFERRERS, Period.YEAR:
            return Board(col(Account.referral_year), col(Account.referrals_rewarded), now.year)
    raise BoardNotOffered(f"the {kind} board has no {period} period")


async def top(*, session: AsyncSession, of: Board, city: str | None, limit: int) -> list[Placing]:
    """The first ``limit`` accounts of the board, ranked 1, 2, ..."""
    found = await session.scalars(
        select(Account)
        .where(*of.where(city))
        .order_by(of.score_column.desc(), col(Account.user_id).desc())
        .limit(limit)
    )
    return [
        Placing(rank=rank, account=account, score=int(getattr(account, of.score_column.key)))
        for rank, account in enumerate(found.all(), start=1)
    ]


async def rank_of(
    *, session: AsyncSession, of: Board, city: str | None, user_id: uuid.UUID
) -> tuple[int | None, int]:
    """The member's rank on the board (``None`` when not on it) and score."""
    account = await session.get(Account, user_id)
    if account is None or not _on_board(account, of, city):
        return None, 0
    score = int(getattr(account, of.score_column.key))
    ahead = await session.scalar(
        select(func.count())
        .select_from(Account)
        .where(
            *of.where(city),
            tuple_(of.score_column, col(Account.user_id)) > tuple_(score, user_id),
        )
    )
    return 1 + int(ahead or 0), score


def _on_board(account: Account, of: Board, city: str | None) -> bool:
    return (
        getattr(account, of.period_column.key) == of.period
        and account.deleted_at is None
        and getattr(account, of.score_column.key) > 0
        and (city is None or account.city == city)
    )


async def count_referral(
    *, session: AsyncSession, referral_id: uuid.UUID, referrer_id: uuid.UUID, at: datetime
) -> bool:
    """Count the referrer's approved referral on ``at``'s year, once; ``False`` when it
    was counted before or voided. A year before the account's ``referral_year`` is
    recorded but moves no board."""
    account = await ledger.lock_account(session=session, user_id=referrer_id)
    reward = await _lock_reward(session, referral_id, referrer_id)
    if reward.counted_year is not None or reward.voided_at is not None:
        return False
    reward.counted_year, reward.updated_at = at.year, at
    if account.referral_year < at.year:
        account.referral_year, account.referrals_rewarded = at.year, 0
    if account.referral_year == at.year:
        account.referrals_rewarded += 1
        account.updated_at = at
    await session.flush()
    return True


async def void_referral(
    *, session: AsyncSession, referral_id: uuid.UUID, referrer_id: uuid.UUID, at: datetime
) -> bool:
    """Record the referral as voided, once (it earns nothing more), and uncount its
    referrer if it was counted; ``False`` when it was voided before."""
    account = await ledger.lock_account(session=session, user_id=referrer_id)
    reward = await _lock_reward(session, referral_id, referrer_id)
    if reward.voided_at is not None:
        return False
    reward.voided_at, reward.updated_at = at, at
    counted = reward.counted_year is not None and reward.counted_year == account.referral_year
    if counted and account.referrals_rewarded > 0:
        account.referrals_rewarded -= 1
        account.updated_at = at
    await session.flush()
    return True


async def is_voided(*, session: AsyncSession, referral_id: uuid.UUID) -> bool:
    voided = await session.scalar(
        select(col(ReferralReward.voided_at)).where(col(ReferralReward.referral_id) == referral_id)
    )
    return voided is not None


async def _lock_reward(
    session: AsyncSession, referral_id: uuid.UUID, referrer_id: uuid.UUID
) -> ReferralReward:
    """The referral's row (created when new), locked until the transaction ends; taken
    after the referrer's account lock, as every referral path does."""
    await session.execute(
        dialect_insert(session, ReferralReward)
        .values(referral_id=referral_id, referrer_id=referrer_id, updated_at=utcnow())
        .on_conflict_do_nothing()
    )
    reward = await session.scalar(
        select(ReferralReward)
        .where(col(ReferralReward.referral_id) == referral_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert reward is not None
    return reward
