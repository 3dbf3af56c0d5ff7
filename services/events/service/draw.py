"""The draw: a seeded, reproducible lottery for events that would otherwise be a bot race.

Applicants are sorted by signup id (a deterministic input order), applicants who lost a
draw in the last ``priority_days`` go first, each group is shuffled with
``random.Random(seed)``, the first ``capacity`` are confirmed and the rest waitlisted in
drawn order. The seed was fixed when the event was created and stays hidden until the
draw has run (a known seed would let a bot time its application into a winning slot);
the run stores seed, input, priority group and allocation, so anyone can recompute it.
Claiming ``events.drawn_at`` with a conditional update makes a second run a 409.
"""

import random
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from kit.audit import record_action
from kit.auth import Principal
from kit.bus.outbox import publish
from kit.db import utcnow
from kit.problems import Conflict, NotFound
from services.events.models import DrawRun, Event, EventStatus, Signup, SignupMode, SignupStatus
from services.events.service.access import can_see, managed_event
from services.events.service.signups import confirmed_payload, waitlisted_payload


@dataclass(frozen=True)
class Allocation:
    order: list[uuid.UUID]
    confirmed: list[uuid.UUID]
    waitlisted: list[uuid.UUID]


def allocate(
    applicants: Sequence[uuid.UUID], priority: Collection[uuid.UUID], *, seed: int, capacity: int
) -> Allocation:
    """The lottery itself: pure, so the same input and seed always give the same result."""
    rng = random.Random(seed)  # noqa: S311 - reproducibility is the point; the seed is secret
    ordered = sorted(applicants)
    first = [signup for signup in ordered if signup in priority]
    rest = [signup for signup in ordered if signup not in priority]
    rng.shuffle(first)
    rng.shuffle(rest)
    order = first + rest
    return Allocation(order=order, confirmed=order[:capacity], waitlisted=order[capacity:])


async def run_draw(
    *, session: AsyncSession, event_id: uuid.UUID, principal: Principal, priority_days: int
) -> DrawRun:
    event = await managed_event(session=session, event_id=event_id, principal=principal)
    now = utcnow()
    _require_drawable(event, now)
    event = await _claim(session, event, now)
    applicants = await _applicants(session, event_id)
    priority = await _recent_losers(session, event_id, now - timedelta(days=priority_days))
    result = allocate(list(applicants), priority, seed=event.draw_seed, capacity=event.capacity)
    await _apply(session, event, result, applicants, principal.user_id)
    run = DrawRun(
        event_id=event_id,
        seed=event.draw_seed,
        ran_at=now,
        ran_by=principal.user_id,
        applicants=[str(signup) for signup in sorted(applicants)],
        priority=[str(signup) for signup in sorted(priority)],
        allocation=[str(signup) for signup in result.order],
        confirmed=len(result.confirmed),
        waitlisted=len(result.waitlisted),
    )
    session.add(run)
    await session.flush()
    record_action(
        session,
        actor=principal.user_id,
        action="draw.ran",
        subject=event_id,
        confirmed=run.confirmed,
        waitlisted=run.waitlisted,
    )
    return run


def _require_drawable(event: Event, now: datetime) -> None:
    if event.signup_mode != SignupMode.DRAW:
        raise Conflict("this event is first come, first served", code="not-a-draw")
    if event.status != EventStatus.PUBLISHED:
        raise Conflict(f"the event is {event.status}", code="event-not-open")
    if now < event.closes_at:
        raise Conflict(
            f"the draw runs after applications close at {event.closes_at.isoformat()}",
            code="draw-too-early",
            closes_at=event.closes_at.isoformat(),
        )


async def _claim(session: AsyncSession, event: Event, now: datetime) -> Event:
    claimed = await session.scalar(
        update(Event)
        .where(col(Event.id) == event.id, col(Event.drawn_at).is_(None))
        .where(col(Event.status) == EventStatus.PUBLISHED)
        .values(drawn_at=now, updated_at=now)
        .returning(Event)
        .execution_options(populate_existing=True)
    )
    if claimed is None:
        raise Conflict("the draw of this event has already run", code="already-drawn")
    return claimed


async def _applicants(session: AsyncSession, event_id: uuid.UUID) -> dict[uuid.UUID, Signup]:
    query = select(Signup).where(
        col(Signup.event_id) == event_id,
        col(Signup.status) == SignupStatus.APPLIED,
    )
    return {signup.id: signup for signup in (await session.scalars(query)).all()}


async def _recent_losers(
    session: AsyncSession, event_id: uuid.UUID, since: datetime
) -> set[uuid.UUID]:
    """This event's applications whose user lost another draw since ``since``."""
    earlier = aliased(Signup)
    query = (
        select(col(Signup.id))
        .join(
            earlier,
            and_(
                col(earlier.user_id) == col(Signup.user_id),
                col(earlier.event_id) != event_id,
                col(earlier.lost_draw).is_(True),
            ),
        )
        .join(DrawRun, col(DrawRun.event_id) == col(earlier.event_id))
        .where(col(Signup.event_id) == event_id, col(Signup.status) == SignupStatus.APPLIED)
        .where(col(DrawRun.ran_at) >= since)
        .distinct()
    )
    return set((await session.scalars(query)).all())


async def _apply(
    session: AsyncSession,
    event: Event,
    result: Allocation,
    applicants: dict[uuid.UUID, Signup],
    actor: uuid.UUID,
) -> None:
    """Write the allocation: statuses, waitlist positions, counters and outbox rows."""
    now = utcnow()
    for signup_id in result.confirmed:
        signup = applicants[signup_id]
        signup.status, signup.updated_at = SignupStatus.CONFIRMED, now
        publish(session, confirmed_payload(signup, "draw"), actor=actor)
    for index, signup_id in enumerate(result.waitlisted, start=event.waitlist_next + 1):
        signup = applicants[signup_id]
        signup.status, signup.updated_at = SignupStatus.WAITLISTED, now
        signup.waitlist_position, signup.lost_draw = index, True
        publish(session, waitlisted_payload(signup), actor=actor)
    await session.execute(
        update(Event)
        .where(col(Event.id) == event.id)
        .values(
            confirmed_count=col(Event.confirmed_count) + len(result.confirmed),
            waitlist_next=col(Event.waitlist_next) + len(result.waitlisted),
        )
        .execution_options(synchronize_session=False)
    )


async def get_draw(
    *, session: AsyncSession, event_id: uuid.UUID, principal: Principal | None
) -> DrawRun:
    event = await session.get(Event, event_id)
    if event is None or not can_see(principal, event):
        raise NotFound("no such event")
    run = await session.get(DrawRun, event_id)
    if run is None:
        raise NotFound("the draw of this event has not run yet", code="not-drawn")
    return run
