"""Tiers: the thresholds (data, the ``tiers`` table) and each member's tier, which follows
their community value.

* Up at once: every value change (:func:`after_value_change`, called by the ledger) moves the
  member to the highest tier their value reaches.
* Down after a grace period: when the value falls below the current tier's threshold (a
  reversal), the tier holds until ``tier_kept_until`` (now + ``REWARDS_TIER_GRACE_DAYS``);
  :func:`demote_due` (a job, safe to run twice) then demotes to the tier the value earns,
  unless it recovered meanwhile (which clears ``tier_kept_until``).
* Every change publishes ``rewards.tier.changed.v1``.

Staff replace the thresholds with :func:`replace`; members are re-tiered lazily, at their
next value change (a member now above a lowered threshold rises then; one now below a raised
threshold enters the grace period then).
"""

import functools
import itertools
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from contracts.rewards import TierChanged
from kit.audit import record_action
from kit.bus.outbox import publish
from kit.problems import Problem
from services.rewards.config import RewardsSettings
from services.rewards.models import Account, Tier
from services.rewards.service import ledger


class TiersNotIncreasing(Problem):
    status, code = 422, "tiers-not-increasing"


@dataclass(frozen=True)
class Standing:
    """Where a member stands: their tier, the next one, and what keeps the current one."""

    tier: Tier
    value: int
    next: Tier | None
    kept_until: datetime | None


@functools.cache
def grace() -> timedelta:
    """How long a tier holds once the value fell below it (read once from the settings)."""
    return timedelta(days=RewardsSettings().tier_grace_days)


async def all_tiers(*, session: AsyncSession) -> list[Tier]:
    """The tiers, lowest first (level 0 has threshold 0)."""
    return list((await session.scalars(select(Tier).order_by(col(Tier.level)))).all())


def earned(tiers: list[Tier], value: int) -> Tier:
    """The highest tier whose threshold ``value`` reaches."""
    return [tier for tier in tiers if tier.threshold <= value][-1]


def current(tiers: list[Tier], level: int) -> Tier:
    """The member's tier (the highest one when thresholds were replaced by fewer)."""
    return tiers[min(level, len(tiers) - 1)]


async def standing_of(*, session: AsyncSession, account: Account) -> Standing:
    tiers = await all_tiers(session=session)
    tier = current(tiers, account.tier)
    following = [candidate for candidate in tiers if candidate.level > tier.level]
    return Standing(
        tier=tier,
        value=ledger.community_value(account),
        next=following[0] if following else None,
        kept_until=account.tier_kept_until,
    )


async def after_value_change(*, session: AsyncSession, account: Account, at: datetime) -> None:
    """Promote at once, start (or end) the grace period of a tier the value fell below."""
    tiers = await all_tiers(session=session)
    value = ledger.community_value(account)
    reached = earned(tiers, value)
    if reached.level > account.tier:
        _move(session, account, reached, value, at)
    elif reached.level == account.tier:
        account.tier_kept_until = None
    elif account.tier_kept_until is None:
        account.tier_kept_until = at + grace()


async def demote_due(*, session: AsyncSession, now: datetime, limit: int = 500) -> int:
    """Demote the members whose grace period ended and whose value did not recover; how
    many were demoted. Safe to run twice and in two replicas (each account moves under its
    lock, and only while its grace period is still set and over)."""
    due = await session.scalars(
        select(col(Account.user_id))
        .where(col(Account.tier_kept_until) <= now)
        .order_by(col(Account.user_id))
        .limit(limit)
    )
    tiers = await all_tiers(session=session)
    demoted = 0
    for user_id in due.all():
        account = await ledger.lock_account(session=session, user_id=user_id)
        if account.tier_kept_until is None or account.tier_kept_until > now:
            continue
        value = ledger.community_value(account)
        reached = earned(tiers, value)
        account.tier_kept_until = None
        if reached.level < account.tier:
            _move(session, account, reached, value, now)
            demoted += 1
    await session.flush()
    return demoted


def _move(session: AsyncSession, account: Account, tier: Tier, value: int, at: datetime) -> None:
    previous = account.tier
    account.tier, account.tier_kept_until, account.updated_at = tier.level, None, at
    publish(
        session,
        TierChanged(
            user_id=account.user_id,
            tier=tier.level,
            previous_tier=previous,
            tier_name=tier.name,
            community_value=value,
            changed_at=at,
        ),
        actor=None,
    )


async def replace(
    *, session: AsyncSession, tiers: list[tuple[str, int]], changed_by: uuid.UUID
) -> list[Tier]:
    """Replace every tier with ``tiers`` (name, threshold), levels 0, 1, ... in order: the
    first threshold is 0 and each is above the one before (422 otherwise)."""
    thresholds = [threshold for _, threshold in tiers]
    if not thresholds or thresholds[0] != 0:
        raise TiersNotIncreasing("level 0 starts at a threshold of 0")
    if any(later <= earlier for earlier, later in itertools.pairwise(thresholds)):
        raise TiersNotIncreasing("each tier's threshold must be above the one before")
    await session.execute(delete(Tier))
    await session.flush()
    replaced = [
        Tier(level=level, name=name, threshold=threshold)
        for level, (name, threshold) in enumerate(tiers)
    ]
    session.add_all(replaced)
    await session.flush()
    record_action(
        session,
        actor=changed_by,
        action="tiers.replaced",
        subject="tiers",
        tiers=[[name, threshold] for name, threshold in tiers],
    )
    return replaced
