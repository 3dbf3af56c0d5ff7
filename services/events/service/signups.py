"""The rush: one seat per user, never more confirmed seats than capacity, a fair waitlist.

A new first-come signup on PostgreSQL is one self-committing statement (:mod:`.rush`);
everything else takes one short unit of work here. Capacity is enforced by conditional
``UPDATE ... RETURNING`` and ``CHECK (confirmed_count <= capacity)``, one signup per user by
``UNIQUE (event_id, user_id)``; a user racing themselves loses on the unique key inside a
savepoint and gets the signup that won. Every status change of a signup happens while the
event row is locked (event, then signups), so they never deadlock. ADR 0007 has the why.

A freed seat goes to the head of the waitlist at once, or, for events with
``waitlist_offers``, is offered to it and held (:mod:`.holds`; answered in :mod:`.offers`).
Releasing a waitlisted signup whose offer is open ends the offer and offers the seat on.
"""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from contracts.events import (
    CancelReason,
    SignupCancelled,
    SignupConfirmed,
    SignupPromoted,
    SignupVia,
    SignupWaitlisted,
)
from kit.api.idempotency import refuse_reuse
from kit.api.pagination import Keyset, Order, PageParams
from kit.audit import record_action
from kit.auth import Principal
from kit.bus.outbox import publish
from kit.db import utcnow
from kit.problems import Conflict, NotFound
from services.events.models import (
    Event,
    EventStatus,
    OfferState,
    Signup,
    SignupMode,
    SignupStatus,
)
from services.events.schemas import When
from services.events.service import holds, pools, rush
from services.events.service.access import can_see, is_staff, require_eligible

UPCOMING_FIRST = Keyset(Order(col(Event.starts_at)), Order(col(Signup.id)))
LATEST_FIRST = Keyset(
    Order(col(Event.starts_at), descending=True), Order(col(Signup.id), descending=True)
)
ACTIVE = (SignupStatus.APPLIED, SignupStatus.CONFIRMED, SignupStatus.WAITLISTED)


class LostRace(Exception):
    """Another request of the same user changed the signup first."""


def open_for_signups(now: datetime) -> ColumnElement[bool]:
    return and_(
        col(Event.status) == EventStatus.PUBLISHED,
        col(Event.opens_at) <= now,
        col(Event.closes_at) > now,
    )


async def sign_up(
    *,
    session: AsyncSession,
    event_id: uuid.UUID,
    principal: Principal,
    idempotency_key: str | None,
) -> tuple[Signup, bool]:
    """Sign up (or apply, in draw mode); ``(signup, created)``, the same signup on a retry."""
    now = utcnow()
    if rush.applies(session=session):
        placed = await rush.try_alone(
            session=session, event_id=event_id, principal=principal, key=idempotency_key, now=now
        )
        if placed is not None:
            return placed, True
    event, replay = await _event_and_previous(session, event_id, principal, idempotency_key)
    if event.signup_mode == SignupMode.QUEUE:
        raise Conflict(
            "this event takes signups through its queue: ask for a ticket",
            code="queue-required",
            tickets=f"/v1/events/{event.id}/tickets",
        )
    if replay is not None and (
        replay.status != SignupStatus.CANCELLED or _same_key(replay, idempotency_key)
    ):
        return replay, False
    _require_open(event, principal, now)
    await require_eligible(session=session, principal=principal, event=event)
    try:
        async with session.begin_nested():
            signup = await _take_place(
                session, event, principal.user_id, idempotency_key, replay, now
            )
        return signup, True
    except (IntegrityError, LostRace):
        pass  # a concurrent request of the same user won: answer with its signup
    event, winner = await _event_and_previous(session, event_id, principal, idempotency_key)
    if winner is None:
        _require_open(event, principal, utcnow())
        raise Conflict("the signup changed concurrently; try again", code="signup-race")
    return winner, False


def _same_key(signup: Signup, key: str | None) -> bool:
    return key is not None and signup.idempotency_key == key


async def _event_and_previous(
    session: AsyncSession, event_id: uuid.UUID, principal: Principal, key: str | None
) -> tuple[Event, Signup | None]:
    """The event and the caller's signup to it (or the one made under ``key``), in one query."""
    match = col(Signup.event_id) == col(Event.id)
    if key is not None:
        match = or_(match, col(Signup.idempotency_key) == key)
    query = (
        select(Event, Signup)
        .outerjoin(Signup, and_(col(Signup.user_id) == principal.user_id, match))
        .where(col(Event.id) == event_id)
        .execution_options(populate_existing=True)
    )
    rows = (await session.execute(query)).all()
    if not rows or not can_see(principal, rows[0][0]):
        raise NotFound("no such event")
    signups = [signup for _, signup in rows if signup is not None]
    by_key = next((signup for signup in signups if _same_key(signup, key)), None)
    if by_key is not None:
        refuse_reuse(used_for=by_key.event_id, requested=event_id, what="another event's signup")
    return rows[0][0], by_key or next(iter(signups), None)


def _require_open(event: Event, principal: Principal, now: datetime) -> None:
    if event.status == EventStatus.CANCELLED:
        raise Conflict("this event was cancelled", code="event-cancelled")
    if event.status != EventStatus.PUBLISHED:
        raise Conflict(f"this event is {event.status}", code="event-not-open")
    if now < event.opens_at:
        raise Conflict(
            f"signups open at {event.opens_at.isoformat()}",
            code="signups-not-open",
            opens_at=event.opens_at.isoformat(),
        )
    if now >= event.closes_at:
        raise Conflict(
            f"signups closed at {event.closes_at.isoformat()}",
            code="signups-closed",
            closes_at=event.closes_at.isoformat(),
        )


async def _take_place(
    session: AsyncSession,
    event: Event,
    user_id: uuid.UUID,
    key: str | None,
    cancelled: Signup | None,
    now: datetime,
) -> Signup:
    if _fast_path(session, event, cancelled):
        placed = await rush.place(session=session, event=event, user_id=user_id, key=key, now=now)
        if placed is None:
            raise LostRace
        return placed
    if event.signup_mode == SignupMode.DRAW:
        await _lock_for_application(session, event.id, now)
        status, position = SignupStatus.APPLIED, None
    else:
        status, position = await _seat_or_position(session, event.id, now)
    signup = await _write_signup(session, event, user_id, key, cancelled, status, position, now)
    if status == SignupStatus.CONFIRMED:
        publish(session, confirmed_payload(signup, "first_come"), actor=user_id)
    elif status == SignupStatus.WAITLISTED:
        publish(session, waitlisted_payload(signup), actor=user_id)
    await session.flush()
    return signup


def _fast_path(session: AsyncSession, event: Event, cancelled: Signup | None) -> bool:
    """A new first-come signup on PostgreSQL takes the one-statement path of :mod:`.rush`."""
    first_come = event.signup_mode == SignupMode.FIRST_COME
    return cancelled is None and first_come and rush.applies(session=session)


async def _seat_or_position(
    session: AsyncSession, event_id: uuid.UUID, now: datetime
) -> tuple[SignupStatus, int | None]:
    """Take a seat if one is left, else the next waitlist position; both conditional."""
    seat = await session.scalar(
        update(Event)
        .where(col(Event.id) == event_id, open_for_signups(now))
        .where(col(Event.confirmed_count) < col(Event.capacity))
        .values(confirmed_count=col(Event.confirmed_count) + 1)
        .returning(col(Event.confirmed_count))
        .execution_options(synchronize_session=False)
    )
    if seat is not None:
        return SignupStatus.CONFIRMED, None
    position = await session.scalar(
        update(Event)
        .where(col(Event.id) == event_id, open_for_signups(now))
        .values(waitlist_next=col(Event.waitlist_next) + 1)
        .returning(col(Event.waitlist_next))
        .execution_options(synchronize_session=False)
    )
    if position is None:
        raise Conflict("signups for this event closed meanwhile", code="signups-closed")
    return SignupStatus.WAITLISTED, position


async def _lock_for_application(session: AsyncSession, event_id: uuid.UUID, now: datetime) -> None:
    """Share-lock the event so that the draw (which updates it) waits for this application."""
    still_open = await session.scalar(
        select(col(Event.id))
        .where(col(Event.id) == event_id, open_for_signups(now), col(Event.drawn_at).is_(None))
        .with_for_update(read=True)
    )
    if still_open is None:
        raise Conflict("applications for this draw closed meanwhile", code="signups-closed")


async def _write_signup(
    session: AsyncSession,
    event: Event,
    user_id: uuid.UUID,
    key: str | None,
    cancelled: Signup | None,
    status: SignupStatus,
    position: int | None,
    now: datetime,
) -> Signup:
    values: dict[str, Any] = {
        "status": status,
        "waitlist_position": position,
        "fee_points": event.points_fee,
        "idempotency_key": key,
        "updated_at": now,
    }
    if cancelled is None:
        signup = Signup(event_id=event.id, user_id=user_id, created_at=now, **values)
        session.add(signup)
        return signup
    revived = await session.scalar(
        update(Signup)
        .where(col(Signup.id) == cancelled.id, col(Signup.status) == SignupStatus.CANCELLED)
        .values(checked_in_at=None, lost_draw=False, **values)
        .returning(Signup)
        .execution_options(populate_existing=True)
    )
    if revived is None:
        raise LostRace
    return revived


async def lock_event(*, session: AsyncSession, event_id: uuid.UUID) -> Event:
    """The event, row-locked until the transaction ends (always before any signup row)."""
    event = await session.scalar(
        select(Event)
        .where(col(Event.id) == event_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if event is None:
        raise NotFound("no such event")
    return event


async def get_signup(
    *, session: AsyncSession, signup_id: uuid.UUID, principal: Principal
) -> Signup:
    """The caller's own signup (any, for staff); someone else's is 'not found'."""
    signup = await session.get(Signup, signup_id)
    if signup is None or not (signup.user_id == principal.user_id or is_staff(principal)):
        raise NotFound("no such signup")
    return signup


async def cancel_signup(
    *, session: AsyncSession, signup_id: uuid.UUID, principal: Principal
) -> Signup:
    signup = await get_signup(session=session, signup_id=signup_id, principal=principal)
    own = signup.user_id == principal.user_id
    cancelled = await release(
        session=session,
        signup=signup,
        reason="user" if own else "staff",
        now=utcnow(),
        actor=principal.user_id,
    )
    if not own:
        record_action(
            session,
            actor=principal.user_id,
            action="signup.cancelled",
            subject=signup.id,
            user_id=signup.user_id,
        )
    return cancelled


async def release(
    *,
    session: AsyncSession,
    signup: Signup,
    reason: CancelReason,
    now: datetime,
    actor: uuid.UUID | None,
) -> Signup:
    """Cancel ``signup``; a freed seat goes to the head of the waitlist in this transaction."""
    event = await lock_event(session=session, event_id=signup.event_id)
    await session.refresh(signup)
    if signup.status == SignupStatus.CANCELLED:
        return signup
    if signup.checked_in_at is not None:
        raise _checked_in()
    # An offer that lapsed is released by the job even when it ran after the start.
    if now >= event.starts_at and reason != "offer_lapsed":
        raise Conflict(
            "the event already started: its signups can no longer be cancelled",
            code="event-started",
        )
    previous = SignupStatus(signup.status)
    # Check-in does not take the event lock: the database decides between the two.
    cancelled = await session.scalar(
        update(Signup)
        .where(
            col(Signup.id) == signup.id,
            col(Signup.status) == previous,
            col(Signup.checked_in_at).is_(None),
        )
        .values(status=SignupStatus.CANCELLED, updated_at=now)
        .returning(col(Signup.id))
        .execution_options(synchronize_session=False)
    )
    await session.refresh(signup)
    if cancelled is None:
        raise _checked_in()
    publish(
        session,
        SignupCancelled(
            signup_id=signup.id,
            event_id=signup.event_id,
            user_id=signup.user_id,
            previous_status=previous,
            refund_due=_refund_due(signup, previous, reason),
            reason=reason,
        ),
        actor=actor,
    )
    held = previous == SignupStatus.WAITLISTED and (
        await holds.end_offer(
            session=session, signup_id=signup.id, state=OFFER_ENDS.get(reason, WITHDRAWN), now=now
        )
        is not None
    )
    if previous == SignupStatus.CONFIRMED or held:
        await _refill_seat(session, event, signup, now, actor)
    await session.flush()
    return signup


WITHDRAWN = OfferState.WITHDRAWN
OFFER_ENDS: dict[CancelReason, OfferState] = {
    "offer_declined": OfferState.DECLINED,
    "offer_lapsed": OfferState.LAPSED,
}
"""How a released waitlisted signup's open offer ends (any other reason withdraws it)."""


def _refund_due(signup: Signup, previous: SignupStatus, reason: CancelReason) -> int:
    """A confirmed seat's fee, except when its charge failed (nothing was paid)."""
    paid = previous == SignupStatus.CONFIRMED and reason != "payment_failed"
    return signup.fee_points if paid else 0


def _checked_in() -> Conflict:
    return Conflict(
        "the attendee already checked in: the signup can no longer be cancelled",
        code="already-checked-in",
    )


async def _refill_seat(
    session: AsyncSession,
    event: Event,
    released: Signup,
    now: datetime,
    actor: uuid.UUID | None,
) -> None:
    """Give (or offer) a freed seat to the head of the waitlist, or count it free (in a
    queue event, free in a pool again: the released ticket's, for new tickets to take)."""
    promoted = await promote(session=session, event=event, seats=1, now=now, actor=actor)
    if not promoted:
        await session.execute(
            update(Event)
            .where(col(Event.id) == event.id)
            .values(confirmed_count=col(Event.confirmed_count) - 1)
            .execution_options(synchronize_session=False)
        )
        if event.signup_mode == SignupMode.QUEUE:
            await pools.give_back_seat(
                session=session, event_id=event.id, signup_id=released.id, now=now
            )


async def promote(
    *, session: AsyncSession, event: Event, seats: int, now: datetime, actor: uuid.UUID | None
) -> int:
    """Confirm up to ``seats`` heads of the waitlist (caller holds the event lock and has
    already accounted for the seats); return how many were promoted. ``actor`` is whoever
    freed the seats. With ``waitlist_offers`` the seats are offered instead (and held):
    the count is of the seats offered."""
    if event.waitlist_offers:
        return await holds.offer_seats(
            session=session, event=event, seats=seats, now=now, actor=actor
        )
    if seats <= 0 or event.status != EventStatus.PUBLISHED or now >= event.starts_at:
        return 0
    heads = (
        await session.scalars(
            select(Signup)
            .where(col(Signup.event_id) == event.id, col(Signup.status) == SignupStatus.WAITLISTED)
            .order_by(col(Signup.waitlist_position))
            .limit(seats)
            .with_for_update(skip_locked=True)
        )
    ).all()
    for head in heads:
        head.status, head.updated_at, head.lost_draw = SignupStatus.CONFIRMED, now, False
        publish(
            session,
            SignupPromoted(
                signup_id=head.id,
                event_id=head.event_id,
                user_id=head.user_id,
                fee_points=head.fee_points,
                from_position=head.waitlist_position or 0,
            ),
            actor=actor,
        )
    return len(heads)


async def my_signups(
    *, session: AsyncSession, principal: Principal, when: When, page: PageParams
) -> tuple[list[tuple[Signup, str, datetime]], str | None]:
    """The caller's live signups with their events' titles, soonest (or latest past) first."""
    now = utcnow()
    past = when == When.PAST
    query = (
        select(Signup, col(Event.title), col(Event.starts_at))
        .join(Event, col(Event.id) == col(Signup.event_id))
        .where(
            col(Signup.user_id) == principal.user_id, col(Signup.status) != SignupStatus.CANCELLED
        )
        .where(col(Event.ends_at) < now if past else col(Event.ends_at) >= now)
    )
    keyset = LATEST_FIRST if past else UPCOMING_FIRST
    found = (await session.execute(keyset.paged(query, page))).all()
    rows = [(row[0], row[1], row[2]) for row in found]
    return keyset.page(rows, page, lambda row: (row[2], row[0].id))


def confirmed_payload(signup: Signup, via: SignupVia) -> SignupConfirmed:
    return SignupConfirmed(
        signup_id=signup.id,
        event_id=signup.event_id,
        user_id=signup.user_id,
        fee_points=signup.fee_points,
        via=via,
    )


def waitlisted_payload(signup: Signup) -> SignupWaitlisted:
    return SignupWaitlisted(
        signup_id=signup.id,
        event_id=signup.event_id,
        user_id=signup.user_id,
        position=signup.waitlist_position or 0,
    )
