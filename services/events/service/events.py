"""The event lifecycle and browsing.

Staff publish directly; volunteers submit for approval and staff approve or reject with a
reason. Every status change is a conditional ``UPDATE ... WHERE status IN (...)``, so two
racing requests cannot both move an event. Capacity may grow (seats go to the head of the
waitlist at once) but never shrink below the confirmed seats, which the ``UPDATE`` itself
checks (``WHERE confirmed_count <= :new``). Every event commits to its draw seed when
created (:func:`.draw.commitment`); the commitment changes only before the event is
published and its applications close, also checked by the ``UPDATE`` itself.
"""

import secrets
import uuid
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, func, inspect, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from contracts.events import (
    EventCancelled,
    EventCompleted,
    EventPublished,
    EventUpdated,
    Refund,
)
from kit.api.pagination import Keyset, Order, PageParams
from kit.audit import record_action
from kit.auth import Principal
from kit.bus.outbox import publish
from kit.db import utcnow
from kit.db.direct import DirectStatements
from kit.problems import Conflict, Forbidden, NotFound, Problem
from services.events.models import (
    Category,
    Event,
    EventStatus,
    SeedSource,
    Signup,
    SignupMode,
    SignupStatus,
    Venue,
)
from services.events.schemas import EventCreate, EventUpdate, check_schedule
from services.events.service import holds, pools, tickets
from services.events.service.access import (
    ORGANIZER_ROLES,
    is_staff,
    managed_event,
    may_see,
)
from services.events.service.draw import commitment
from services.events.service.signups import ACTIVE, promote

EDITABLE = (
    EventStatus.DRAFT,
    EventStatus.PENDING_APPROVAL,
    EventStatus.REJECTED,
    EventStatus.PUBLISHED,
)
SEED_BITS = 63
SOONEST_FIRST = Keyset(Order(col(Event.starts_at)), Order(col(Event.id)))


async def create_event(*, session: AsyncSession, data: EventCreate, principal: Principal) -> Event:
    """A draft organized by the caller (a volunteer or staff)."""
    if not principal.has_any(*ORGANIZER_ROLES):
        raise Forbidden("only volunteers and staff organize events")
    fields = data.model_dump(exclude={"draw_seed", "seed_commitment", "pools"})
    if data.venue_id is not None:
        venue = await _venue_for(session, data.venue_id, data.capacity)
        fields["city"] = data.city or venue.city
    fields.update(_seed_fields(data))
    if data.waitlist_offers is None:
        fields["waitlist_offers"] = data.signup_mode == SignupMode.QUEUE
    event = Event(**fields, organizer_id=principal.user_id)
    session.add(event)
    await session.flush()
    if event.signup_mode == SignupMode.QUEUE:
        pools.create_pools(session=session, event=event, pools=data.pools)
        await session.flush()
    return event


def _seed_fields(data: EventCreate) -> dict[str, Any]:
    """The draw seed and its commitment: the organizer's commitment (they keep the seed),
    or a seed the server keeps (the one given, for tests, or a random one)."""
    if data.seed_commitment is not None:
        return {
            "draw_seed": None,
            "seed_commitment": data.seed_commitment,
            "seed_source": SeedSource.ORGANIZER,
        }
    seed = data.draw_seed if data.draw_seed is not None else secrets.randbits(SEED_BITS)
    return {
        "draw_seed": seed,
        "seed_commitment": commitment(seed),
        "seed_source": SeedSource.SERVER,
    }


async def _venue_for(session: AsyncSession, venue_id: uuid.UUID, capacity: int) -> Venue:
    venue = await session.get(Venue, venue_id)
    if venue is None:
        raise Problem("venue_id names no venue", status=422, code="unknown-venue")
    if capacity > venue.capacity:
        raise Problem(
            f"capacity exceeds the venue's {venue.capacity} places",
            status=422,
            code="over-venue-capacity",
        )
    return venue


_EVENT_PAGE = (
    select(
        *inspect(Event).columns,
        col(Signup.id).label("my_signup_id"),
        col(Signup.status).label("my_signup_status"),
        col(Signup.waitlist_position).label("my_waitlist_position"),
    )
    .outerjoin(
        Signup,
        and_(col(Signup.event_id) == col(Event.id), col(Signup.user_id) == bindparam("viewer")),
    )
    .where(col(Event.id) == bindparam("event_id"))
)
"""Built once: the event page is the hottest read (a sold-out event, refreshed by everyone)."""


async def event_page(
    *, reads: DirectStatements, event_id: uuid.UUID, principal: Principal | None
) -> Mapping[str, Any]:
    """The event's row with the viewer's signup to it (``my_signup_*``, all ``None`` when
    there is none or no viewer), in one statement without the ORM; unpublished events only
    for their managers."""
    viewer = principal.user_id if principal else None
    row = await reads.one(_EVENT_PAGE, event_id=event_id, viewer=viewer)
    if row is None or not may_see(
        principal, status=row["status"], organizer_id=row["organizer_id"]
    ):
        raise NotFound("no such event")
    return row


async def browse(
    *,
    session: AsyncSession,
    city: str | None,
    category: Category | None,
    starts_from: datetime | None,
    starts_to: datetime | None,
    has_seats: bool | None,
    page: PageParams,
) -> tuple[list[Event], str | None]:
    """Published upcoming events, soonest first (ties by id), a page at a time."""
    now = utcnow()
    query = select(Event).where(
        col(Event.status) == EventStatus.PUBLISHED,
        col(Event.starts_at) >= max(starts_from or now, now),
    )
    filters: list[Any] = []
    if city:
        filters.append(col(Event.city) == city)
    if category:
        filters.append(col(Event.category) == category)
    if starts_to:
        filters.append(col(Event.starts_at) < starts_to)
    if has_seats is not None:
        free = col(Event.confirmed_count) < col(Event.capacity)
        filters.append(free if has_seats else ~free)
    events = (await session.scalars(SOONEST_FIRST.paged(query.where(*filters), page))).all()
    return SOONEST_FIRST.page(events, page, lambda event: (event.starts_at, event.id))


def _require_staff(principal: Principal, action: str) -> None:
    if not is_staff(principal):
        raise Forbidden(f"only staff may {action}", code="staff-only")


async def _transition(
    session: AsyncSession,
    event: Event,
    *,
    allowed: Collection[EventStatus],
    to: EventStatus,
    reason: str | None = None,
) -> Event:
    moved = await session.scalar(
        update(Event)
        .where(col(Event.id) == event.id, col(Event.status).in_(allowed))
        .values(status=to, status_reason=reason, updated_at=utcnow())
        .returning(Event)
        .execution_options(populate_existing=True)
    )
    if moved is None:
        await session.refresh(event)
        raise Conflict(f"the event is {event.status}; cannot become {to}", code="bad-transition")
    return moved


async def publish_event(
    *, session: AsyncSession, event_id: uuid.UUID, principal: Principal
) -> Event:
    """Staff publish a draft (or approve a submitted event) in one step."""
    event = await managed_event(session=session, event_id=event_id, principal=principal)
    if not is_staff(principal):
        raise Forbidden(
            "volunteers submit events for approval (POST .../submit)", code="approval-required"
        )
    allowed = (EventStatus.DRAFT, EventStatus.PENDING_APPROVAL)
    live = await _go_live(session, event, allowed, principal)
    record_action(session, actor=principal.user_id, action="event.published", subject=event_id)
    return live


async def approve_event(
    *, session: AsyncSession, event_id: uuid.UUID, principal: Principal
) -> Event:
    event = await managed_event(session=session, event_id=event_id, principal=principal)
    _require_staff(principal, "approve events")
    live = await _go_live(session, event, (EventStatus.PENDING_APPROVAL,), principal)
    record_action(session, actor=principal.user_id, action="event.approved", subject=event_id)
    return live


async def _go_live(
    session: AsyncSession, event: Event, allowed: Collection[EventStatus], principal: Principal
) -> Event:
    if event.starts_at <= utcnow():
        raise Conflict("the event has already started", code="already-started")
    live = await _transition(session, event, allowed=allowed, to=EventStatus.PUBLISHED)
    if live.signup_mode == SignupMode.QUEUE:
        await tickets.create_sequence(session=session, event_id=live.id)
    publish(session, _published(live), actor=principal.user_id)
    return live


async def submit_event(
    *, session: AsyncSession, event_id: uuid.UUID, principal: Principal
) -> Event:
    """The organizer asks staff to approve the event."""
    event = await managed_event(session=session, event_id=event_id, principal=principal)
    allowed = (EventStatus.DRAFT, EventStatus.REJECTED)
    return await _transition(session, event, allowed=allowed, to=EventStatus.PENDING_APPROVAL)


async def reject_event(
    *, session: AsyncSession, event_id: uuid.UUID, principal: Principal, reason: str
) -> Event:
    event = await managed_event(session=session, event_id=event_id, principal=principal)
    _require_staff(principal, "reject events")
    allowed = (EventStatus.PENDING_APPROVAL,)
    rejected = await _transition(
        session, event, allowed=allowed, to=EventStatus.REJECTED, reason=reason
    )
    record_action(
        session, actor=principal.user_id, action="event.rejected", subject=event_id, reason=reason
    )
    return rejected


async def cancel_event(
    *, session: AsyncSession, event_id: uuid.UUID, principal: Principal, reason: str
) -> Event:
    """Cancel the event and release every signup; the refunds due travel on the event."""
    event = await managed_event(session=session, event_id=event_id, principal=principal)
    cancelled = await _transition(
        session, event, allowed=EDITABLE, to=EventStatus.CANCELLED, reason=reason
    )
    released = (
        await session.execute(
            select(
                col(Signup.id), col(Signup.user_id), col(Signup.status), col(Signup.fee_points)
            ).where(
                col(Signup.event_id) == event_id,
                col(Signup.status).in_(ACTIVE),
            )
        )
    ).all()
    await session.execute(
        update(Signup)
        .where(col(Signup.event_id) == event_id, col(Signup.status).in_(ACTIVE))
        .values(status=SignupStatus.CANCELLED, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    await holds.withdraw_all(session=session, event_id=event_id)
    await session.execute(
        update(Event)
        .where(col(Event.id) == event_id)
        .values(confirmed_count=0)
        .execution_options(synchronize_session=False)
    )
    refunds = [
        Refund(signup_id=row.id, user_id=row.user_id, fee_points=row.fee_points)
        for row in released
        if row.status == SignupStatus.CONFIRMED and row.fee_points > 0
    ]
    payload = EventCancelled(
        event_id=event_id,
        organizer_id=cancelled.organizer_id,
        cancelled_by=principal.user_id,
        reason=reason,
        released_signups=len(released),
        refunds=refunds,
    )
    publish(session, payload, actor=principal.user_id)
    record_action(
        session,
        actor=principal.user_id,
        action="event.cancelled",
        subject=event_id,
        reason=reason,
        released_signups=len(released),
    )
    await session.refresh(cancelled)
    return cancelled


async def complete_event(
    *, session: AsyncSession, event_id: uuid.UUID, principal: Principal
) -> Event:
    """After it ended: record the organizer's contribution (the attendees checked in)."""
    event = await managed_event(session=session, event_id=event_id, principal=principal)
    now = utcnow()
    if now < event.ends_at:
        raise Conflict(f"the event ends at {event.ends_at.isoformat()}", code="not-ended")
    done = await _transition(
        session, event, allowed=(EventStatus.PUBLISHED,), to=EventStatus.COMPLETED
    )
    attendees = await session.scalar(
        select(func.count()).where(
            col(Signup.event_id) == event_id,
            col(Signup.checked_in_at).is_not(None),
        )
    )
    payload = EventCompleted(
        event_id=event_id,
        organizer_id=done.organizer_id,
        attendee_count=attendees or 0,
        confirmed_count=done.confirmed_count,
        completed_at=now,
    )
    publish(session, payload, actor=principal.user_id)
    return done


async def update_event(
    *, session: AsyncSession, event_id: uuid.UUID, principal: Principal, data: EventUpdate
) -> Event:
    """Edit an event; a capacity below the confirmed seats is refused by the UPDATE itself."""
    event = await managed_event(session=session, event_id=event_id, principal=principal)
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    now = utcnow()
    _check_edit(event, changes, now)
    if event.signup_mode == SignupMode.QUEUE:
        await _check_queue_edit(session, event, changes)
    if "capacity" in changes and event.venue_id is not None:
        await _venue_for(session, event.venue_id, changes["capacity"])
    statement = update(Event).where(col(Event.id) == event_id, col(Event.status).in_(EDITABLE))
    if "capacity" in changes:
        statement = statement.where(col(Event.confirmed_count) <= changes["capacity"])
    if "seed_commitment" in changes:
        statement = statement.where(*_commitment_open(now))
        changes.update(draw_seed=None, seed_source=SeedSource.ORGANIZER)
    updated = await session.scalar(
        statement.values(**changes, updated_at=utcnow())
        .returning(Event)
        .execution_options(populate_existing=True)
    )
    if updated is None:
        raise await _edit_refused(session, event, changes, now)
    await _fill_new_seats(session, updated, principal)
    if updated.status == EventStatus.PUBLISHED and changes:
        payload = _updated(updated, sorted(changes), principal.user_id)
        publish(session, payload, actor=principal.user_id)
    if "seed_commitment" in changes:
        record_action(
            session,
            actor=principal.user_id,
            action="event.seed_committed",
            subject=event_id,
            seed_commitment=changes["seed_commitment"],
        )
    return updated


def _commitment_open(now: datetime) -> tuple[ColumnElement[bool], ...]:
    """While the draw seed's commitment may still change: not yet published, and the
    applications not yet closed."""
    return (col(Event.status) != EventStatus.PUBLISHED, col(Event.closes_at) > now)


def _commitment_locked(event: Event, now: datetime) -> Conflict | None:
    if event.status == EventStatus.PUBLISHED or event.closes_at <= now:
        return Conflict(
            "the draw seed's commitment cannot change once the event is published or its "
            "applications closed",
            code="commitment-locked",
        )
    return None


def _check_edit(event: Event, changes: dict[str, Any], now: datetime) -> None:
    if event.status not in EDITABLE:
        raise Conflict(f"a {event.status} event cannot be edited", code="not-editable")
    if "seed_commitment" in changes and (locked := _commitment_locked(event, now)):
        raise locked
    times = [
        changes.get(name, getattr(event, name))
        for name in ("starts_at", "ends_at", "opens_at", "closes_at")
    ]
    try:
        check_schedule(*times)
    except ValueError as exc:
        raise Problem(str(exc), status=422, code="bad-schedule") from exc


async def _check_queue_edit(session: AsyncSession, event: Event, changes: dict[str, Any]) -> None:
    """A queue event's capacity is its pools' (fixed: 409); its signup window must still
    hold every pool (422)."""
    if "capacity" in changes and changes["capacity"] != event.capacity:
        raise Conflict("a queue event's capacity is the sum of its pools", code="pools-fixed")
    opens = changes.get("opens_at", event.opens_at)
    closes = changes.get("closes_at", event.closes_at)
    for pool in await pools.pools_of(session=session, event_id=event.id):
        if not opens <= pool.opens_at < closes or pool.closes_at > closes:
            raise Problem(
                f"pool {pool.name!r} would fall outside the signup window",
                status=422,
                code="bad-pools",
            )


async def _edit_refused(
    session: AsyncSession, event: Event, changes: dict[str, Any], now: datetime
) -> Problem:
    await session.refresh(event)
    if event.status not in EDITABLE:
        return Conflict(f"a {event.status} event cannot be edited", code="not-editable")
    if "seed_commitment" in changes and (locked := _commitment_locked(event, now)):
        return locked
    return Conflict(
        f"capacity cannot go below the {event.confirmed_count} confirmed seats",
        code="capacity-below-confirmed",
        confirmed_count=event.confirmed_count,
    )


async def _fill_new_seats(session: AsyncSession, event: Event, principal: Principal) -> None:
    """When capacity grew, the waitlist's heads take the new seats right away."""
    if event.signup_mode != SignupMode.FIRST_COME:
        return
    promoted = await promote(
        session=session,
        event=event,
        seats=event.capacity - event.confirmed_count,
        now=utcnow(),
        actor=principal.user_id,
    )
    if promoted:
        await session.execute(
            update(Event)
            .where(col(Event.id) == event.id)
            .values(confirmed_count=col(Event.confirmed_count) + promoted)
            .execution_options(synchronize_session=False)
        )
        await session.refresh(event)


def _published(event: Event) -> EventPublished:
    return EventPublished(
        event_id=event.id,
        title=event.title,
        category=event.category,
        city=event.city,
        venue_id=event.venue_id,
        organizer_id=event.organizer_id,
        starts_at=event.starts_at,
        ends_at=event.ends_at,
        opens_at=event.opens_at,
        closes_at=event.closes_at,
        capacity=event.capacity,
        signup_mode=event.signup_mode,
        eligibility=event.eligibility,
        min_tier=event.min_tier,
        points_fee=event.points_fee,
        seed_commitment=event.seed_commitment,
    )


def _updated(event: Event, changed: list[str], by: uuid.UUID) -> EventUpdated:
    return EventUpdated(
        event_id=event.id,
        changed=changed,
        title=event.title,
        starts_at=event.starts_at,
        ends_at=event.ends_at,
        capacity=event.capacity,
        updated_by=by,
    )
