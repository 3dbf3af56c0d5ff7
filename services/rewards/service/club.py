"""The club: the year's top members by community value (``yearly_top``), the quarter's
fastest growers (``quarter_growth``) and the year's top referrers (``top_referrer``).

:func:`compute` is a job (``club_members`` holds the club of the periods it last computed):
it reads the three boards of the current periods, writes only the rows that differ, and
publishes ``rewards.club.membership_changed.v1`` for each member whose membership (in or
out, or its reasons) changed; computing twice changes nothing and publishes nothing new.
It runs as one job at a time (the schedule does not overlap runs).
"""

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from contracts.rewards import ClubMembershipChanged, ClubReason
from kit.bus.outbox import publish
from services.rewards.config import RewardsSettings
from services.rewards.models import Account, BoardKind, ClubMember, Period
from services.rewards.service import leaderboards

REASONS: tuple[ClubReason, ...] = ("yearly_top", "quarter_growth", "top_referrer")
ORDER: dict[str, int] = {reason: place for place, reason in enumerate(REASONS)}


@dataclass(frozen=True)
class Changes:
    """What one computation did: rows written or removed, members announced."""

    rows: int
    announced: int


def periods_of(at: datetime) -> dict[ClubReason, str]:
    quarter = f"{at.year}-Q{(at.month - 1) // 3 + 1}"
    return {"yearly_top": str(at.year), "quarter_growth": quarter, "top_referrer": str(at.year)}


async def compute(*, session: AsyncSession, at: datetime, settings: RewardsSettings) -> Changes:
    periods = periods_of(at)
    boards: dict[ClubReason, tuple[BoardKind, Period, int]] = {
        "yearly_top": (BoardKind.VALUE, Period.YEAR, settings.club_yearly_size),
        "quarter_growth": (BoardKind.VALUE, Period.QUARTER, settings.club_quarter_size),
        "top_referrer": (BoardKind.REFERRERS, Period.YEAR, settings.club_referrer_size),
    }
    wanted: dict[tuple[str, str, uuid.UUID], int] = {}
    for reason, (kind, period, size) in boards.items():
        of = leaderboards.board(kind, period, now=at)
        for placing in await leaderboards.top(session=session, of=of, city=None, limit=size):
            wanted[(periods[reason], reason, placing.user_id)] = placing.rank
    existing = {
        (row.period, row.reason, row.user_id): row
        for row in (await session.scalars(select(ClubMember))).all()
    }
    moved = 0
    for key, row in existing.items():
        if key not in wanted:
            await session.delete(row)
            moved += 1
        elif row.rank != wanted[key]:
            row.rank, row.computed_at = wanted[key], at
            moved += 1
    for (of_period, why, user_id), rank in wanted.items():
        if (of_period, why, user_id) not in existing:
            session.add(
                ClubMember(period=of_period, reason=why, user_id=user_id, rank=rank, computed_at=at)
            )
            moved += 1
    before, after = _reasons(existing.keys()), _reasons(wanted.keys())
    announced = 0
    for user_id in sorted(before.keys() | after.keys()):
        if before.get(user_id, []) == after.get(user_id, []):
            continue
        reasons = after.get(user_id, [])
        publish(
            session,
            ClubMembershipChanged(
                user_id=user_id,
                member=bool(reasons),
                reasons=reasons,
                period=periods["quarter_growth"],
                changed_at=at,
            ),
            actor=None,
        )
        announced += 1
    await session.flush()
    return Changes(rows=moved, announced=announced)


def _reasons(rows: Iterable[tuple[str, str, uuid.UUID]]) -> dict[uuid.UUID, list[ClubReason]]:
    found: dict[uuid.UUID, set[str]] = defaultdict(set)
    for _, reason, user_id in rows:
        found[user_id].add(reason)
    return {
        user_id: [reason for reason in REASONS if reason in reasons]
        for user_id, reasons in found.items()
    }


@dataclass(frozen=True)
class Member:
    account: Account | None
    user_id: uuid.UUID
    reasons: list[ClubMember]


async def members(*, session: AsyncSession) -> list[Member]:
    """The club as last computed: each member with their reasons, yearly top first (by
    rank), then the quarter's growers, then the referrers."""
    rows = (await session.scalars(select(ClubMember))).all()
    by_user: dict[uuid.UUID, list[ClubMember]] = defaultdict(list)
    for row in rows:
        by_user[row.user_id].append(row)
    accounts = {
        account.user_id: account
        for account in (
            await session.scalars(select(Account).where(col(Account.user_id).in_(by_user)))
        ).all()
    }
    found = [
        Member(
            account=accounts.get(user_id),
            user_id=user_id,
            reasons=sorted(reasons, key=lambda row: (ORDER[row.reason], row.rank)),
        )
        for user_id, reasons in by_user.items()
    ]
    return sorted(
        found,
        key=lambda member: (ORDER[member.reasons[0].reason], member.reasons[0].rank),
    )
