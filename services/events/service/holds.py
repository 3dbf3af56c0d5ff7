"""Seats held by waitlist offers: making offers to the heads of the waitlist and ending them.

Both run while the caller holds the event's row lock (lock order: event, then signups and
their offers), so two transactions never offer the same seat or end the same offer. A held
seat stays counted in ``events.confirmed_count`` from the moment it was freed until its
offer is accepted (it becomes that user's) or ends (it is offered on, or freed): capacity
holds and nobody else can take it. The hold lasts ``EVENTS_OFFER_HOLD_SECONDS``, at most
half the time left until the start; a hold under ``EVENTS_OFFER_MIN_HOLD_SECONDS`` (or an
event that started) is no offer at all. :mod:`.offers` answers them; the user-facing side.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from contracts.events import OfferMade
from kit.bus.outbox import publish
from services.events.config import EventsSettings
from services.events.models import (
    Event,
    EventStatus,
    OfferState,
    SeatOffer,
    Signup,
    SignupStatus,
)

POLICY_KEY = "events.offer_policy"
"""The session-info key of the :class:`OfferPolicy` (set by the app and the jobs)."""


@dataclass(frozen=True)
class OfferPolicy:
    """How long an offer holds its seat (the settings' ``offer_*_seconds``)."""

    hold_seconds: int = 7200
    min_hold_seconds: int = 300

    @classmethod
    def from_settings(cls, settings: EventsSettings) -> "OfferPolicy":
        return cls(settings.offer_hold_seconds, settings.offer_min_hold_seconds)

    def hold(self, event: Event, now: datetime) -> timedelta | None:
        """How long a seat offered ``now`` is held; None when too close to the start."""
        if now >= event.starts_at:
            return None
        hold = min(timedelta(seconds=self.hold_seconds), (event.starts_at - now) / 2)
        if hold < timedelta(seconds=max(self.min_hold_seconds, 1)):
            return None
        return hold


def policy_of(*, session: AsyncSession) -> OfferPolicy:
    """The session's hold policy (the app's and the jobs' settings; the defaults else)."""
    policy = session.info.get(POLICY_KEY)
    return policy if isinstance(policy, OfferPolicy) else OfferPolicy()


OPEN = col(SeatOffer.state) == OfferState.OFFERED


async def offer_seats(
    *, session: AsyncSession, event: Event, seats: int, now: datetime, actor: uuid.UUID | None
) -> int:
    """Offer up to ``seats`` freed seats (already counted) to the heads of the waitlist that
    hold no open offer; how many were offered (the rest the caller counts free)."""
    if seats <= 0 or event.status != EventStatus.PUBLISHED:
        return 0
    hold = policy_of(session=session).hold(event, now)
    if hold is None:
        return 0
    has_offer = exists().where(col(SeatOffer.signup_id) == col(Signup.id), OPEN)
    heads = (
        await session.scalars(
            select(Signup)
            .where(col(Signup.event_id) == event.id, col(Signup.status) == SignupStatus.WAITLISTED)
            .where(~has_offer)
            .order_by(col(Signup.waitlist_position))
            .limit(seats)
            .with_for_update(skip_locked=True)
        )
    ).all()
    for head in heads:
        offer = SeatOffer(
            event_id=event.id,
            signup_id=head.id,
            user_id=head.user_id,
            state=OfferState.OFFERED,
            offered_at=now,
            expires_at=now + hold,
        )
        session.add(offer)
        publish(
            session,
            OfferMade(
                offer_id=offer.id,
                signup_id=head.id,
                event_id=event.id,
                user_id=head.user_id,
                expires_at=offer.expires_at,
            ),
            actor=actor,
        )
    await session.flush()
    return len(heads)


async def end_offer(
    *, session: AsyncSession, signup_id: uuid.UUID, state: OfferState, now: datetime
) -> uuid.UUID | None:
    """End the signup's open offer as ``state``; its id, or None when it had none."""
    answered = now if state in (OfferState.ACCEPTED, OfferState.DECLINED) else None
    ended: uuid.UUID | None = await session.scalar(
        update(SeatOffer)
        .where(col(SeatOffer.signup_id) == signup_id, OPEN)
        .values(state=state, answered_at=answered)
        .returning(col(SeatOffer.id))
        .execution_options(synchronize_session=False)
    )
    return ended


async def withdraw_all(*, session: AsyncSession, event_id: uuid.UUID) -> int:
    """Withdraw the event's open offers (it was cancelled); how many."""
    withdrawn = await session.scalars(
        update(SeatOffer)
        .where(col(SeatOffer.event_id) == event_id, OPEN)
        .values(state=OfferState.WITHDRAWN)
        .returning(col(SeatOffer.id))
        .execution_options(synchronize_session=False)
    )
    return len(withdrawn.all())
