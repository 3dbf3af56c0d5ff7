"""A referral's way to a car and its reward: the funnel steps (from partner reports or
staff), the reward's states and staff's decisions, each published once.

A step sets its time once (a resent or replayed step changes nothing) and moves the
stage only forward (:data:`~services.referrals.models.STAGE_RANK`): steps that arrive out
of order are all recorded and each is published once. The reward:

* the delivery makes it ``pending`` until ``approves_at`` (the refund window), published as
  ``reward.pending`` (rewards credits it held); a referrer past the yearly cap is flagged;
* a refund while pending voids it (``reward.voided``, rewards takes the credit back); a
  refund after approval only flags it for staff, nothing is reversed silently;
* :func:`approve_due` (the jobs run) approves pending rewards whose window ended and that
  wait for no review; staff approve (releasing a held lead too) or void with a reason.

A held lead (``announced`` false, see :mod:`.checks`) publishes nothing until staff
approve it; then everything it reached is published in order. A voided referral
publishes no further funnel steps: it earns nothing more.
"""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from contracts.referrals import (
    FunnelStep,
    LeadCreated,
    RefereeDriveBooked,
    RefereeDriveDone,
    RefereeOrderCancelled,
    RefereeOrderPlaced,
    RefereeOrderRefunded,
    RefereeVehicleDelivered,
    RewardApproved,
    RewardFlagged,
    RewardPending,
    RewardVoided,
)
from kit.bus.outbox import publish
from kit.problems import Conflict, NotFound
from services.referrals.config import ReferralsSettings
from services.referrals.models import STAGE_RANK, PhoneClaim, Referral, RewardState, Stage
from services.referrals.service.checks import REFUNDED_AFTER_APPROVAL, YEARLY_CAP

STEPS: dict[Stage, tuple[str, type[FunnelStep]]] = {
    Stage.TEST_DRIVE_BOOKED: ("test_drive_booked_at", RefereeDriveBooked),
    Stage.TEST_DRIVE_DONE: ("test_drive_done_at", RefereeDriveDone),
    Stage.ORDER_PLACED: ("order_placed_at", RefereeOrderPlaced),
    Stage.ORDER_CANCELLED: ("order_cancelled_at", RefereeOrderCancelled),
    Stage.DELIVERED: ("delivered_at", RefereeVehicleDelivered),
    Stage.REFUNDED: ("refunded_at", RefereeOrderRefunded),
}
"""Each step after the lead: the column holding its time and the event announcing it."""
REFUND_REASON = "refunded"


class ReferralNotFound(NotFound):
    code = "referral-not-found"

    def __init__(self) -> None:
        super().__init__("no such referral")


class NothingToDecide(Conflict):
    code = "referral-already-decided"


async def locked(*, session: AsyncSession, referral_id: uuid.UUID) -> Referral:
    referral = await session.get(
        Referral, referral_id, with_for_update=True, populate_existing=True
    )
    if referral is None:
        raise ReferralNotFound()
    return referral


def _fields(referral: Referral) -> dict[str, Any]:
    return {
        "referral_id": referral.id,
        "referrer_id": referral.referrer_id,
        "referee_user_id": referral.referee_user_id,
    }


def _announce(
    session: AsyncSession, referral: Referral, payload: Any, actor: uuid.UUID | None
) -> None:
    if referral.announced:
        publish(session, payload, actor=actor)


def lead_created(referral: Referral) -> LeadCreated:
    return LeadCreated(**_fields(referral), occurred_at=referral.created_at, source=referral.source)


async def advance(
    *,
    session: AsyncSession,
    referral: Referral,
    stage: Stage,
    occurred_at: datetime,
    actor: uuid.UUID | None,
    settings: ReferralsSettings,
) -> bool:
    """Record that ``referral`` reached ``stage`` at ``occurred_at`` (the caller holds its
    lock); false when it already had (or a delivered order's cancellation)."""
    column, event = STEPS[stage]
    if getattr(referral, column) is not None:
        return False
    if stage == Stage.ORDER_CANCELLED and referral.delivered_at is not None:
        return False
    setattr(referral, column, occurred_at)
    if STAGE_RANK[stage] > STAGE_RANK[Stage(referral.stage)]:
        referral.stage = stage
    referral.updated_at = occurred_at
    if stage == Stage.ORDER_PLACED:
        await _keep_phone_claim(session, referral)
    if referral.reward_state == RewardState.VOIDED:
        return True
    _announce(session, referral, event(**_fields(referral), occurred_at=occurred_at), actor)
    if stage == Stage.DELIVERED:
        await _on_delivery(session, referral, settings=settings)
    elif stage == Stage.REFUNDED:
        _on_refund(session, referral, at=occurred_at)
    return True


async def _keep_phone_claim(session: AsyncSession, referral: Referral) -> None:
    """An order keeps the lead's phone attributed to it beyond the window."""
    if referral.phone_hash is not None:
        claim = await session.get(PhoneClaim, referral.phone_hash)
        if claim is not None and claim.referral_id == referral.id:
            claim.ordered = True


async def _on_delivery(
    session: AsyncSession, referral: Referral, *, settings: ReferralsSettings
) -> None:
    assert referral.delivered_at is not None
    if referral.refunded_at is not None:
        _void(session, referral, at=referral.refunded_at, by=None, reason=REFUND_REASON)
        return
    referral.reward_state = RewardState.PENDING
    referral.approves_at = referral.delivered_at + timedelta(days=settings.refund_window_days)
    _announce(session, referral, _pending(referral), None)
    if await _rewarded_this_year(session, referral) > settings.yearly_cap:
        flag(session=session, referral=referral, reason=YEARLY_CAP, at=referral.delivered_at)


def _pending(referral: Referral) -> RewardPending:
    assert referral.delivered_at is not None
    assert referral.approves_at is not None
    return RewardPending(
        **_fields(referral), delivered_at=referral.delivered_at, approves_at=referral.approves_at
    )


async def _rewarded_this_year(session: AsyncSession, referral: Referral) -> int:
    """The referrer's delivered referrals in the delivery's calendar year, this one included,
    whose reward is not voided."""
    assert referral.delivered_at is not None
    year = referral.delivered_at.year
    start, end = datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
    await session.flush()
    count = await session.scalar(
        select(func.count())
        .select_from(Referral)
        .where(
            col(Referral.referrer_id) == referral.referrer_id,
            col(Referral.reward_state).in_([RewardState.PENDING, RewardState.APPROVED]),
            col(Referral.delivered_at) >= start,
            col(Referral.delivered_at) < end,
        )
    )
    return int(count or 0)


def _on_refund(session: AsyncSession, referral: Referral, *, at: datetime) -> None:
    if referral.reward_state == RewardState.PENDING:
        _void(session, referral, at=at, by=None, reason=REFUND_REASON)
    elif referral.reward_state == RewardState.APPROVED:
        flag(session=session, referral=referral, reason=REFUNDED_AFTER_APPROVAL, at=at)


def flag(*, session: AsyncSession, referral: Referral, reason: str, at: datetime) -> None:
    """Ask staff to look at ``referral``; its pending reward waits for their decision."""
    referral.review_reasons = [*referral.review_reasons, reason]
    referral.review_open = True
    _announce(
        session, referral, RewardFlagged(**_fields(referral), flagged_at=at, reasons=[reason]), None
    )


def _record_decision(
    referral: Referral, *, at: datetime, by: uuid.UUID | None, reason: str | None
) -> None:
    """Who decided (null: the system), when and why; the review, if one was open, is closed."""
    referral.decided_at, referral.decided_by, referral.decision_reason = at, by, reason
    referral.review_open = False
    referral.updated_at = at


def _void(
    session: AsyncSession, referral: Referral, *, at: datetime, by: uuid.UUID | None, reason: str
) -> None:
    was_approved = referral.reward_state == RewardState.APPROVED
    referral.reward_state = RewardState.VOIDED
    _record_decision(referral, at=at, by=by, reason=reason)
    _announce(
        session,
        referral,
        RewardVoided(
            **_fields(referral),
            voided_at=at,
            voided_by=by,
            reason=reason,
            was_approved=was_approved,
        ),
        by,
    )


def _approve(
    session: AsyncSession,
    referral: Referral,
    *,
    at: datetime,
    by: uuid.UUID | None,
    reason: str | None,
) -> None:
    referral.reward_state = RewardState.APPROVED
    _record_decision(referral, at=at, by=by, reason=reason)
    _announce(
        session,
        referral,
        RewardApproved(**_fields(referral), approved_at=at, approved_by=by, reason=reason),
        by,
    )


def _publish_so_far(session: AsyncSession, referral: Referral, *, actor: uuid.UUID) -> None:
    """A held lead released: everything it reached, in the order it happened."""
    publish(session, lead_created(referral), actor=actor)
    reached = sorted(
        (
            (getattr(referral, column), event)
            for column, event in STEPS.values()
            if getattr(referral, column) is not None
        ),
        key=lambda step: step[0],
    )
    for occurred_at, event in reached:
        publish(session, event(**_fields(referral), occurred_at=occurred_at), actor=actor)
    if referral.reward_state == RewardState.PENDING:
        publish(session, _pending(referral), actor=actor)


def approve(
    *, session: AsyncSession, referral: Referral, by: uuid.UUID, reason: str, now: datetime
) -> None:
    """Staff clear ``referral``: a held lead is released (and published), a pending reward is
    approved now, an open review is closed; anything else is a 409."""
    if referral.reward_state == RewardState.VOIDED:
        raise NothingToDecide("the referral was voided")
    if not referral.announced:
        referral.announced = True
        _publish_so_far(session, referral, actor=by)
    elif not referral.review_open and referral.reward_state != RewardState.PENDING:
        raise NothingToDecide("nothing about this referral waits for a decision")
    if referral.reward_state == RewardState.PENDING:
        _approve(session, referral, at=now, by=by, reason=reason)
    else:
        _record_decision(referral, at=now, by=by, reason=reason)


def void(
    *, session: AsyncSession, referral: Referral, by: uuid.UUID, reason: str, now: datetime
) -> None:
    """Staff void ``referral``: it earns nothing, and what it earned is taken back."""
    if referral.reward_state == RewardState.VOIDED:
        raise NothingToDecide("the referral is already voided")
    _void(session, referral, at=now, by=by, reason=reason)


async def approve_due(*, session: AsyncSession, now: datetime, limit: int) -> int:
    """Approve up to ``limit`` pending rewards whose refund window ended and that no
    review holds; rows another runner holds are skipped (``SKIP LOCKED``)."""
    due = await session.scalars(
        select(Referral)
        .where(
            col(Referral.reward_state) == RewardState.PENDING,
            col(Referral.approves_at) <= now,
            col(Referral.review_open).is_(False),
            col(Referral.announced).is_(True),
        )
        .order_by(col(Referral.approves_at), col(Referral.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    approved = 0
    for referral in due.all():
        _approve(session, referral, at=now, by=None, reason=None)
        approved += 1
    return approved
