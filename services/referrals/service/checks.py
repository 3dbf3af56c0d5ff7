"""The fraud checks a new lead passes, each named by the reason staff see:

* ``self-referral``: the referrer's own account, or the device the referrer registered
  from (by the hash identity announces; the share form and the claim hash their
  ``X-Device-Id`` the same way);
* ``blocklisted-referrer`` / ``blocklisted-phone``: on the blocklist;
* ``velocity``: more than ``REFERRALS_LEADS_PER_HOUR`` or ``_PER_DAY`` leads of one referrer;
* ``yearly-cap``: more than ``REFERRALS_YEARLY_CAP`` rewarded referrals of one referrer in
  a calendar year (checked at delivery, see :mod:`.funnel`);
* a duplicate phone is not a check but an attribution: the phone is another lead's
  (:mod:`.leads`).

Where someone is waiting for an answer (the share form, a claim), a failed check refuses
the lead with a problem and writes nothing. A registration already happened: its lead is
kept, held for staff with the reasons, and published only once staff approve it.
"""

import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from kit.problems import Forbidden, Problem, TooManyRequests
from services.referrals.config import ReferralsSettings
from services.referrals.models import BlockedEntry, BlockKind, Member, Referral

SELF_REFERRAL = "self-referral"
BLOCKED_REFERRER = "blocklisted-referrer"
BLOCKED_PHONE = "blocklisted-phone"
VELOCITY = "velocity"
YEARLY_CAP = "yearly-cap"
REFUNDED_AFTER_APPROVAL = "refunded-after-approval"


class SelfReferral(Problem):
    status, code = 422, "self-referral"

    def __init__(self) -> None:
        super().__init__("a member cannot refer themselves")


class Blocked(Forbidden):
    code = "referral-blocked"

    def __init__(self) -> None:
        super().__init__("this referral is not accepted")


def is_self_referral(referrer: Member, *, user_id: uuid.UUID | None, device: str | None) -> bool:
    if user_id is not None and user_id == referrer.user_id:
        return True
    return device is not None and device == referrer.device_hash


async def blocked_reasons(
    *, session: AsyncSession, referrer_id: uuid.UUID, phone_hash: str | None = None
) -> list[str]:
    wanted = [(BlockKind.REFERRER, str(referrer_id))]
    if phone_hash is not None:
        wanted.append((BlockKind.PHONE, phone_hash))
    found = await session.execute(
        select(col(BlockedEntry.kind)).where(
            col(BlockedEntry.kind).in_([kind for kind, _ in wanted]),
            col(BlockedEntry.value).in_([value for _, value in wanted]),
        )
    )
    kinds = set(found.scalars())
    return [
        reason
        for kind, reason in (
            (BlockKind.REFERRER, BLOCKED_REFERRER),
            (BlockKind.PHONE, BLOCKED_PHONE),
        )
        if kind in kinds
    ]


@dataclass(frozen=True)
class Velocity:
    """Whether a referrer may have another lead now, and if not, when."""

    exceeded: bool
    retry_after: int = 0


async def velocity(
    *, session: AsyncSession, referrer_id: uuid.UUID, now: datetime, settings: ReferralsSettings
) -> Velocity:
    """Counts the referrer's leads of the last hour and day, in one read of the day's most
    recent (the caller holds the referrer's row lock, so two leads at once count each
    other)."""
    windows = (
        (timedelta(hours=1), settings.leads_per_hour),
        (timedelta(days=1), settings.leads_per_day),
    )
    recent = (
        select(col(Referral.created_at))
        .where(
            col(Referral.referrer_id) == referrer_id,
            col(Referral.created_at) > now - max(window for window, _ in windows),
        )
        .order_by(col(Referral.created_at).desc())
        .limit(max(limit for _, limit in windows))
    )
    times = list((await session.scalars(recent)).all())
    for window, limit in windows:
        inside = [at for at in times if at > now - window]
        if len(inside) >= limit:
            frees_at = inside[limit - 1] + window
            return Velocity(True, max(1, math.ceil((frees_at - now).total_seconds())))
    return Velocity(False)


def refuse_velocity(found: Velocity) -> None:
    if found.exceeded:
        raise TooManyRequests(
            "too many leads for this code just now; try again later",
            retry_after=found.retry_after,
            code="referral-velocity",
        )


def refuse_blocked(reasons: list[str]) -> None:
    if reasons:
        raise Blocked()
