"""No-show penalties: issuing them, what they delay, reading and waiving them.

A confirmed seat neither checked in nor cancelled when its event is completed (or, for an
event nobody completed, ``grace`` after it ended: :func:`issue_due_penalties`, a job) earns
one penalty, keyed by the signup (``UNIQUE (signup_id)``, inserted ``ON CONFLICT DO
NOTHING``: issuing twice, or from two replicas at once, issues once). A penalty lasts
``duration`` from the event's end, whenever it was issued, so the job's timing changes
nothing. A second no-show is a penalty of its own: the user is delayed until the latest
``ends_at`` of their active penalties, i.e. ``duration`` after the later no-show (not
added up), and waiving one leaves the other in force.

While active (``now < ends_at``, not waived) the user's first-come signups open
``delay_seconds`` after an event's ``opens_at``: :func:`signup_delay` for the portable path
and the queue's pools, the same condition inside the rush's one statement
(:mod:`.rush`), :func:`penalized` for the draw's weights.
"""

import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from contracts.events import PenaltyIssued, PenaltyWaived
from kit.api.pagination import Keyset, Order, PageParams
from kit.audit import record_action
from kit.auth import Principal
from kit.bus.outbox import publish
from kit.db import dialect_insert, utcnow
from kit.ids import new_id
from kit.problems import Conflict, Forbidden, NotFound
from services.events.config import EventsSettings
from services.events.models import Event, EventStatus, Penalty, PenaltyReason, Signup, SignupStatus
from services.events.service.access import is_staff

LATEST_FIRST = Keyset(
    Order(col(Penalty.issued_at), descending=True), Order(col(Penalty.id), descending=True)
)
USER_IDS_PER_QUERY = 5000


@dataclass(frozen=True)
class PenaltyPolicy:
    """How no-shows are penalized: ``EVENTS_NO_SHOW_*``."""

    grace: timedelta
    delay: timedelta
    duration: timedelta

    @classmethod
    def from_settings(cls, settings: EventsSettings) -> "PenaltyPolicy":
        return cls(
            grace=timedelta(hours=settings.no_show_grace_hours),
            delay=timedelta(seconds=settings.no_show_delay_seconds),
            duration=timedelta(days=settings.no_show_penalty_days),
        )


def active(now: datetime | ColumnElement[datetime]) -> ColumnElement[bool]:
    """In force at ``now`` (a time, or a bound parameter of a statement built once)."""
    return and_(col(Penalty.waived_at).is_(None), col(Penalty.ends_at) > now)


async def signup_delay(*, session: AsyncSession, user_id: uuid.UUID, now: datetime) -> timedelta:
    """How long after an event's ``opens_at`` the user's first-come signups open (zero
    without an active penalty)."""
    seconds = await session.scalar(
        select(func.max(col(Penalty.delay_seconds))).where(
            col(Penalty.user_id) == user_id, active(now)
        )
    )
    return timedelta(seconds=seconds or 0)


async def penalized(
    *, session: AsyncSession, user_ids: Collection[uuid.UUID], now: datetime
) -> set[uuid.UUID]:
    """Those of ``user_ids`` with an active penalty."""
    found: set[uuid.UUID] = set()
    ids = list(user_ids)
    for start in range(0, len(ids), USER_IDS_PER_QUERY):
        chunk = ids[start : start + USER_IDS_PER_QUERY]
        found.update(
            await session.scalars(
                select(col(Penalty.user_id))
                .where(col(Penalty.user_id).in_(chunk), active(now))
                .distinct()
            )
        )
    return found


async def require_open_for(
    *, session: AsyncSession, user_id: uuid.UUID, opens_at: datetime, now: datetime
) -> None:
    """A 409 ``penalty-delay`` (``until``, ``penalty_id``) while the user's active penalty
    still delays a signup to an event that opened at ``opens_at``."""
    penalty = await session.scalar(
        select(Penalty)
        .where(col(Penalty.user_id) == user_id, active(now))
        .order_by(col(Penalty.delay_seconds).desc(), col(Penalty.ends_at).desc())
        .limit(1)
    )
    if penalty is None:
        return
    until = opens_at + timedelta(seconds=penalty.delay_seconds)
    if now < until:
        raise Conflict(
            f"after a no-show your signups open later: at {until.isoformat()}",
            code="penalty-delay",
            until=until.isoformat(),
            penalty_id=str(penalty.id),
            penalty_ends_at=penalty.ends_at.isoformat(),
        )


async def issue_for_event(
    *, session: AsyncSession, event: Event, policy: PenaltyPolicy, now: datetime
) -> int:
    """Penalize the event's no-shows (confirmed, not checked in); those already penalized
    are skipped. Returns how many penalties were issued."""
    no_shows = (
        await session.execute(
            select(col(Signup.id), col(Signup.user_id)).where(
                col(Signup.event_id) == event.id,
                col(Signup.status) == SignupStatus.CONFIRMED,
                col(Signup.checked_in_at).is_(None),
            )
        )
    ).all()
    if not no_shows:
        return 0
    ends_at = event.ends_at + policy.duration
    rows = [
        {
            "id": new_id(),
            "user_id": user_id,
            "event_id": event.id,
            "signup_id": signup_id,
            "reason": PenaltyReason.NO_SHOW.value,
            "delay_seconds": int(policy.delay.total_seconds()),
            "issued_at": now,
            "ends_at": ends_at,
        }
        for signup_id, user_id in no_shows
    ]
    inserted = (
        await session.execute(
            dialect_insert(session, Penalty)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["signup_id"])
            .returning(col(Penalty.id), col(Penalty.user_id))
        )
    ).all()
    for penalty_id, user_id in inserted:
        payload = PenaltyIssued(
            penalty_id=penalty_id, user_id=user_id, event_id=event.id, ends_at=ends_at
        )
        publish(session, payload, actor=None)
    return len(inserted)


async def issue_due_penalties(
    *, session: AsyncSession, now: datetime, policy: PenaltyPolicy
) -> int:
    """The job: penalize the no-shows of published events that ended more than
    ``policy.grace`` ago and were never completed (only those whose penalties would still
    be in force, so old events are not scanned again). Safe to run anywhere, any number of
    times, concurrently. Returns how many penalties were issued."""
    cutoff = now - policy.grace
    due = (
        await session.scalars(
            select(Event)
            .where(
                col(Event.status) == EventStatus.PUBLISHED,
                col(Event.ends_at) <= cutoff,
                col(Event.ends_at) > now - policy.duration,
            )
            .order_by(col(Event.ends_at), col(Event.id))
        )
    ).all()
    issued = 0
    for event in due:
        issued += await issue_for_event(session=session, event=event, policy=policy, now=now)
    return issued


async def waive_for_attendance(
    *, session: AsyncSession, signup_ids: Iterable[uuid.UUID], actor: uuid.UUID, now: datetime
) -> int:
    """Waive the penalties of signups a late (offline) entrance scan shows were present."""
    ids = list(signup_ids)
    if not ids:
        return 0
    waived = (
        await session.execute(
            update(Penalty)
            .where(col(Penalty.signup_id).in_(ids), col(Penalty.waived_at).is_(None))
            .values(waived_at=now, waived_by=actor, waive_reason="checked in (a late scan)")
            .returning(
                col(Penalty.id), col(Penalty.user_id), col(Penalty.event_id), col(Penalty.ends_at)
            )
            .execution_options(synchronize_session=False)
        )
    ).all()
    for penalty_id, user_id, event_id, ends_at in waived:
        payload = PenaltyWaived(
            penalty_id=penalty_id, user_id=user_id, event_id=event_id, ends_at=ends_at
        )
        publish(session, payload, actor=actor)
    return len(waived)


async def my_penalties(
    *, session: AsyncSession, principal: Principal, page: PageParams
) -> tuple[list[tuple[Penalty, str]], str | None]:
    """The caller's penalties (active or not) with their events' titles, latest first."""
    query = (
        select(Penalty, col(Event.title))
        .join(Event, col(Event.id) == col(Penalty.event_id))
        .where(col(Penalty.user_id) == principal.user_id)
    )
    found = (await session.execute(LATEST_FIRST.paged(query, page))).all()
    rows = [(row[0], row[1]) for row in found]
    return LATEST_FIRST.page(rows, page, lambda row: (row[0].issued_at, row[0].id))


def _require_staff(principal: Principal) -> None:
    if not is_staff(principal):
        raise Forbidden("only staff may see and waive penalties", code="staff-only")


async def list_penalties(
    *, session: AsyncSession, principal: Principal, user_id: uuid.UUID | None, page: PageParams
) -> tuple[list[Penalty], str | None]:
    """Staff: every penalty, or one user's, latest first."""
    _require_staff(principal)
    query = select(Penalty)
    if user_id is not None:
        query = query.where(col(Penalty.user_id) == user_id)
    found = (await session.scalars(LATEST_FIRST.paged(query, page))).all()
    return LATEST_FIRST.page(found, page, lambda penalty: (penalty.issued_at, penalty.id))


async def waive(
    *, session: AsyncSession, penalty_id: uuid.UUID, principal: Principal, reason: str
) -> Penalty:
    """Staff waive a penalty: it delays nothing any more. Once (409 ``already-waived``)."""
    _require_staff(principal)
    penalty = await session.get(Penalty, penalty_id)
    if penalty is None:
        raise NotFound("no such penalty")
    now = utcnow()
    waived = await session.scalar(
        update(Penalty)
        .where(col(Penalty.id) == penalty_id, col(Penalty.waived_at).is_(None))
        .values(waived_at=now, waived_by=principal.user_id, waive_reason=reason)
        .returning(Penalty)
        .execution_options(populate_existing=True)
    )
    if waived is None:
        raise Conflict("the penalty was already waived", code="already-waived")
    payload = PenaltyWaived(
        penalty_id=waived.id,
        user_id=waived.user_id,
        event_id=waived.event_id,
        ends_at=waived.ends_at,
    )
    publish(session, payload, actor=principal.user_id)
    record_action(
        session,
        actor=principal.user_id,
        action="penalty.waived",
        subject=penalty_id,
        user_id=waived.user_id,
        reason=reason,
    )
    return waived


def is_active(penalty: Penalty, now: datetime) -> bool:
    return penalty.waived_at is None and penalty.ends_at > now
