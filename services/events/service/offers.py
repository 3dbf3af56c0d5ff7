"""Waitlist offers as their users and the expiry job see them: read, accept, decline, lapse.

An offer (made by :mod:`.holds` when a seat of a ``waitlist_offers`` event is freed) holds
the seat for its waitlisted signup until ``expires_at``. Accepting confirms the signup
(``signup.promoted``, which rewards charges like any promotion); declining releases the
signup (``offer_declined``) and offers the seat to the next in line in the same
transaction. An offer past ``expires_at`` is lapsed even before the job saw it: answering
it is a 409. The job (:func:`lapse_offer`, run by ``python -m services.events.cli jobs``)
lapses each due offer in its own transaction with the event row locked first, then the
offer ``FOR UPDATE SKIP LOCKED`` and still due: two replicas running it at once pass each
offer on exactly once (the second finds it no longer open).
"""

import uuid
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from contracts.events import OfferLapsed, SignupPromoted
from kit.api.pagination import Keyset, Order, PageParams
from kit.auth import Principal
from kit.bus.outbox import publish
from kit.db import utcnow
from kit.problems import Conflict, NotFound
from services.events.models import Event, OfferState, SeatOffer, Signup, SignupStatus
from services.events.service.access import is_staff
from services.events.service.holds import OPEN
from services.events.service.signups import lock_event, release

SOONEST_EXPIRING = Keyset(Order(col(SeatOffer.expires_at)), Order(col(SeatOffer.id)))


def effective_state(offer: SeatOffer, now: datetime) -> OfferState:
    """The offer's state, ``lapsed`` once past ``expires_at`` even before the job ran."""
    if offer.state == OfferState.OFFERED and offer.expires_at <= now:
        return OfferState.LAPSED
    return OfferState(offer.state)


async def get_offer(
    *, session: AsyncSession, offer_id: uuid.UUID, principal: Principal
) -> SeatOffer:
    """The caller's own offer (any, for staff); someone else's is 'not found'."""
    offer = await session.get(SeatOffer, offer_id)
    if offer is None or not (offer.user_id == principal.user_id or is_staff(principal)):
        raise NotFound("no such offer")
    return offer


async def _own_open_offer(
    session: AsyncSession, offer_id: uuid.UUID, principal: Principal, now: datetime
) -> SeatOffer:
    """The caller's offer, read again after its event was locked; 409 unless still open."""
    offer = await session.get(SeatOffer, offer_id)
    if offer is None or offer.user_id != principal.user_id:
        raise NotFound("no such offer")
    event = await lock_event(session=session, event_id=offer.event_id)
    await session.refresh(offer)
    state = effective_state(offer, now)
    if state != OfferState.OFFERED:
        raise Conflict(f"this offer is {state}", code="offer-not-open", state=str(state))
    if now >= event.starts_at:  # only if the start was moved before the offer's expiry
        raise Conflict("the event already started", code="event-started")
    return offer


async def accept_offer(
    *, session: AsyncSession, offer_id: uuid.UUID, principal: Principal
) -> SeatOffer:
    """Take the held seat: the signup is confirmed (``signup.promoted`` with its fee)."""
    now = utcnow()
    offer = await _own_open_offer(session, offer_id, principal, now)
    signup = await session.scalar(
        update(Signup)
        .where(col(Signup.id) == offer.signup_id, col(Signup.status) == SignupStatus.WAITLISTED)
        .values(status=SignupStatus.CONFIRMED, updated_at=now, lost_draw=False)
        .returning(Signup)
        .execution_options(populate_existing=True)
    )
    if signup is None:  # never: any change of the signup ends its offer under the same lock
        raise Conflict("the signup is no longer waitlisted", code="offer-not-open")
    accepted = await session.scalar(
        update(SeatOffer)
        .where(col(SeatOffer.id) == offer.id, OPEN)
        .values(state=OfferState.ACCEPTED, answered_at=now)
        .returning(SeatOffer)
        .execution_options(populate_existing=True)
    )
    assert accepted is not None  # the event lock is held and the offer was open
    publish(
        session,
        SignupPromoted(
            signup_id=signup.id,
            event_id=signup.event_id,
            user_id=signup.user_id,
            fee_points=signup.fee_points,
            from_position=signup.waitlist_position or 0,
        ),
        actor=principal.user_id,
    )
    return accepted


async def decline_offer(
    *, session: AsyncSession, offer_id: uuid.UUID, principal: Principal
) -> SeatOffer:
    """Give the held seat up: the signup is released and the next in line is offered it."""
    now = utcnow()
    offer = await _own_open_offer(session, offer_id, principal, now)
    signup = await session.get(Signup, offer.signup_id)
    assert signup is not None  # the offer's foreign key
    await release(
        session=session, signup=signup, reason="offer_declined", now=now, actor=principal.user_id
    )
    await session.refresh(offer)
    return offer


async def my_offers(
    *, session: AsyncSession, principal: Principal, page: PageParams
) -> tuple[list[tuple[SeatOffer, str, datetime]], str | None]:
    """The caller's open offers with their events' titles, soonest to expire first."""
    query = (
        select(SeatOffer, col(Event.title), col(Event.starts_at))
        .join(Event, col(Event.id) == col(SeatOffer.event_id))
        .where(col(SeatOffer.user_id) == principal.user_id, OPEN)
        .where(col(SeatOffer.expires_at) > utcnow())
    )
    found = (await session.execute(SOONEST_EXPIRING.paged(query, page))).all()
    rows = [(row[0], row[1], row[2]) for row in found]
    return SOONEST_EXPIRING.page(rows, page, lambda row: (row[0].expires_at, row[0].id))


async def due_offers(
    *, session: AsyncSession, now: datetime, limit: int
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Up to ``limit`` open offers past ``expires_at``, oldest first: ``(offer, event)``."""
    found = await session.execute(
        select(col(SeatOffer.id), col(SeatOffer.event_id))
        .where(OPEN, col(SeatOffer.expires_at) <= now)
        .order_by(col(SeatOffer.expires_at), col(SeatOffer.id))
        .limit(limit)
    )
    return [(row[0], row[1]) for row in found.all()]


async def lapse_offer(
    *, session: AsyncSession, offer_id: uuid.UUID, event_id: uuid.UUID, now: datetime
) -> bool:
    """Lapse one due offer: its signup is released (``offer_lapsed``) and the seat offered
    to the next in line. False when it is no longer due (answered, or another runner
    lapsed it first)."""
    try:
        await lock_event(session=session, event_id=event_id)
    except NotFound:
        return False  # the event was deleted, its offers with it
    offer = await session.scalar(
        select(SeatOffer)
        .where(col(SeatOffer.id) == offer_id, OPEN, col(SeatOffer.expires_at) <= now)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    if offer is None:
        return False
    signup = await session.get(Signup, offer.signup_id, populate_existing=True)
    assert signup is not None  # the offer's foreign key
    publish(
        session,
        OfferLapsed(
            offer_id=offer.id,
            signup_id=offer.signup_id,
            event_id=offer.event_id,
            user_id=offer.user_id,
        ),
        actor=None,
    )
    await release(session=session, signup=signup, reason="offer_lapsed", now=now, actor=None)
    return True
