"""Leaderboards: this year's community value, this quarter's growth and this year's rewarded
referrals, in the whole community or one city; and where one member ranks on them.

A board reads the accounts of its current period only (``value_year``, ``value_quarter``,
``referral_year``: an account not touched since keeps last period's number there), never
deleted accounts, and only scores above zero. Order: the score, highest first, then the
user id, highest first, which is exactly the order of the accounts' partial indexes read
backwards.

The referrers' board counts approved referrals (:func:`count_referral`, once per referral
by its :class:`~services.rewards.models.ReferralReward` row, in the approval's year) and
uncounts a voided one once (:func:`void_referral`), in the year it was counted while that
is still the account's ``referral_year`` (a past year's board is not rewritten).

A rank is 1 + the accounts ahead, counted on the same index range, but never further than
``rank_exact_limit`` accounts (10,000): counting half a million index entries for a member
in the middle of a million would take a second. A member further down gets an estimate
(``exact`` false) from the board's snapshot, which the jobs take every run
(:func:`take_snapshots`): the accounts per score bucket (about 9% of score width each), so
that the estimate is the accounts in the buckets above plus a linear share of the
member's own bucket. Without a snapshot of the current period the rank is the limit + 1,
the best that is known ("beyond 10,000").
"""

import math
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from kit.db import dialect_insert, utcnow
from kit.problems import Problem
from services.rewards.models import Account, BoardKind, BoardSnapshot, Period, ReferralReward
from services.rewards.service import ledger

BUCKETS_PER_DOUBLING = 8
"""Score buckets per doubling of the score (each about 9% wide)."""


class BoardNotOffered(Problem):
    status, code = 422, "board-not-offered"


@dataclass(frozen=True)
class Board:
    """One board: which column holds its period, which its score, and the current period."""

    key: str
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
class Rank:
    """Where a member stands: ``rank`` is ``None`` off the board, an estimate unless
    ``exact``."""

    rank: int | None
    score: int
    exact: bool


@dataclass(frozen=True)
class Placing:
    rank: int
    user_id: uuid.UUID
    display_name: str | None
    city: str | None
    score: int


def board(kind: BoardKind, period: Period, *, now: datetime) -> Board:
    match kind, period:
        case BoardKind.VALUE, Period.YEAR:
            return Board("value:year", col(Account.value_year), col(Account.year_value), now.year)
        case BoardKind.VALUE, Period.QUARTER:
            return Board(
                "value:quarter",
                col(Account.value_quarter),
                col(Account.quarter_value),
                ledger.quarter_of(now),
            )
        case BoardKind.REFERRERS, Period.YEAR:
            return Board(
                "referrers:year",
                col(Account.referral_year),
                col(Account.referrals_rewarded),
                now.year,
            )
    raise BoardNotOffered(f"the {kind} board has no {period} period")


async def top(*, session: AsyncSession, of: Board, city: str | None, limit: int) -> list[Placing]:
    """The first ``limit`` accounts of the board, ranked 1, 2, ... (only the columns a
    board shows are read: a top 100 is a hot read)."""
    found = await session.execute(
        select(col(Account.user_id), col(Account.display_name), col(Account.city), of.score_column)
        .where(*of.where(city))
        .order_by(of.score_column.desc(), col(Account.user_id).desc())
        .limit(limit)
    )
    return [
        Placing(rank=rank, user_id=user_id, display_name=name, city=town, score=int(score))
        for rank, (user_id, name, town, score) in enumerate(found.all(), start=1)
    ]


async def rank_of(
    *,
    session: AsyncSession,
    of: Board,
    city: str | None,
    user_id: uuid.UUID,
    exact_limit: int,
) -> Rank:
    """The member's rank on the board, exact within ``exact_limit`` accounts ahead."""
    account = await session.get(Account, user_id)
    if account is None or not _on_board(account, of, city):
        return Rank(rank=None, score=0, exact=True)
    score = int(getattr(account, of.score_column.key))
    counted = (
        select(col(Account.user_id))
        .where(
            *of.where(city),
            tuple_(of.score_column, col(Account.user_id)) > tuple_(score, user_id),
        )
        .limit(exact_limit)
        .subquery()
    )
    ahead = int(await session.scalar(select(func.count()).select_from(counted)) or 0)
    if ahead < exact_limit:
        return Rank(rank=1 + ahead, score=score, exact=True)
    snapshot = await session.get(BoardSnapshot, (of.key, city or ""))
    if snapshot is None or snapshot.period != of.period:
        return Rank(rank=1 + exact_limit, score=score, exact=False)
    return Rank(
        rank=1 + max(_ahead_in(snapshot.buckets, score), exact_limit), score=score, exact=False
    )


def _ahead_in(buckets: list[list[int]], score: int) -> int:
    """The accounts with a higher score, by the snapshot: whole buckets above, and of the
    member's own bucket the share above ``score``."""
    ahead = 0
    for lowest, highest, accounts in buckets:
        if lowest > score:
            ahead += accounts
        elif highest > score:
            ahead += accounts * (highest - score) // (highest - lowest + 1)
    return ahead


def _bucket(score: Any) -> Any:
    return func.floor(func.ln(score) * BUCKETS_PER_DOUBLING / math.log(2))


async def take_snapshots(*, session: AsyncSession, now: datetime) -> int:
    """Replace every board's snapshot, overall and per city; how many were written."""
    written = 0
    for kind, period in (
        (BoardKind.VALUE, Period.YEAR),
        (BoardKind.VALUE, Period.QUARTER),
        (BoardKind.REFERRERS, Period.YEAR),
    ):
        of = board(kind, period, now=now)
        bucket = _bucket(of.score_column)
        found = await session.execute(
            select(
                col(Account.city),
                func.min(of.score_column),
                func.max(of.score_column),
                func.count(),
            )
            .where(*of.where(None))
            .group_by(col(Account.city), bucket)
        )
        spread: dict[str, list[list[int]]] = defaultdict(list)
        for city, lowest, highest, accounts in found.all():
            for key in ("", city) if city else ("",):
                spread[key].append([int(lowest), int(highest), int(accounts)])
        await session.execute(delete(BoardSnapshot).where(col(BoardSnapshot.board) == of.key))
        for city, buckets in spread.items():
            session.add(
                BoardSnapshot(
                    board=of.key,
                    city=city,
                    period=of.period,
                    accounts=sum(accounts for _, _, accounts in buckets),
                    buckets=_merged(buckets),
                    taken_at=now,
                )
            )
            written += 1
    await session.flush()
    return written


def _merged(buckets: list[list[int]]) -> list[list[int]]:
    """The cities' buckets of one score range as one, highest first."""
    merged: dict[int, list[int]] = {}
    for lowest, highest, accounts in buckets:
        key = int(math.log2(lowest) * BUCKETS_PER_DOUBLING)
        if key in merged:
            known = merged[key]
            merged[key] = [min(known[0], lowest), max(known[1], highest), known[2] + accounts]
        else:
            merged[key] = [lowest, highest, accounts]
    return [merged[key] for key in sorted(merged, reverse=True)]


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
