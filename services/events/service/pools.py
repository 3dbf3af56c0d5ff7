"""Capacity pools of queue events: creating them, which pool a user queues in, the waves'
flow of a closed pool's unused seats, and what the event page shows of pools and queue.

A queue event's seats are split into ranked pools (owners, fans, volunteers, club members,
everyone), each open for its own window. A user's pool follows their roles at the moment
they queue (token roles plus the roles identity announced since, :class:`MemberRoles`):
the lowest-rank pool open now whose audience matches. When a pool closes, the allocator
(:mod:`.allocator`, holding the event row's lock) moves its unused seats to the next pool
by rank that has not closed: the closed pool's ``size`` becomes its ``taken``, the next
one's ``size`` and ``carried_in`` grow by the rest. ``taken <= size`` is a CHECK.
"""

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from kit.db.direct import DirectStatements
from kit.problems import Conflict, Forbidden
from services.events.models import (
    Event,
    EventPool,
    PoolAudience,
    QueueTicket,
    TicketState,
)
from services.events.schemas import (
    PoolCreate,
    PoolPublic,
    QueuePublic,
    ViewerTicketPublic,
)

OWNER_ROLE = "owner"
CLUB_ROLE = "club"
VOLUNTEER_ROLE = "volunteer"
DEFAULT_POOL_NAME = "everyone"


def create_pools(
    *, session: AsyncSession, event: Event, pools: Sequence[PoolCreate] | None
) -> None:
    """Stage ``event``'s pools (validated by the schema), ranked in the order given; a queue
    event without pools gets one for everyone: the whole capacity, the event's window."""
    given = list(pools or ())
    if not given:
        given = [
            PoolCreate(
                name=DEFAULT_POOL_NAME,
                audience=PoolAudience.EVERYONE,
                size=event.capacity,
                opens_at=event.opens_at,
                closes_at=event.closes_at,
            )
        ]
    for rank, pool in enumerate(given):
        session.add(EventPool(event_id=event.id, rank=rank, **pool.model_dump()))


def matches(audience: str, roles: frozenset[str]) -> bool:
    """Whether a user with ``roles`` belongs to a pool's ``audience``."""
    match audience:
        case PoolAudience.OWNERS:
            return OWNER_ROLE in roles
        case PoolAudience.FANS:
            return OWNER_ROLE not in roles
        case PoolAudience.CLUB_MEMBERS:
            return CLUB_ROLE in roles
        case PoolAudience.VOLUNTEERS:
            return VOLUNTEER_ROLE in roles
        case _:
            return True


def choose(pools: Sequence[Mapping[str, Any]], roles: frozenset[str], now: datetime) -> Any:
    """The lowest-rank pool (rows with ``pool_id``, ``audience``, ``pool_opens_at``,
    ``pool_closes_at``, by rank) open at ``now`` whose audience ``roles`` match. 409
    ``signups-not-open`` (with ``opens_at``) when a matching pool opens later, 409
    ``signups-closed`` when every matching pool closed, 403 ``no-pool`` when none matches."""
    mine = [pool for pool in pools if matches(pool["audience"], roles)]
    if not mine:
        raise Forbidden("no pool of this event is for you", code="no-pool")
    for pool in mine:
        if pool["pool_opens_at"] <= now < pool["pool_closes_at"]:
            return pool
    later = [pool["pool_opens_at"] for pool in mine if pool["pool_opens_at"] > now]
    if later:
        opens_at = min(later)
        raise Conflict(
            f"your pool opens at {opens_at.isoformat()}",
            code="signups-not-open",
            opens_at=opens_at.isoformat(),
        )
    raise Conflict("your pool closed", code="signups-closed")


async def flow_closed(*, session: AsyncSession, event_id: uuid.UUID, now: datetime) -> int:
    """Move the unused seats of every pool closed by ``now`` (and not flowed yet) to the
    next pool by rank that has not closed; how many seats moved. Takes the event row's lock
    (skipping an event locked elsewhere: the next round flows it) and touches the row, so
    that an allocation that read the pools before sees its lock's row changed and waits."""
    locked = await session.scalar(
        select(col(Event.id)).where(col(Event.id) == event_id).with_for_update(skip_locked=True)
    )
    if locked is None:
        return 0
    pools = list(
        (
            await session.scalars(
                select(EventPool)
                .where(col(EventPool.event_id) == event_id)
                .order_by(col(EventPool.rank))
                .execution_options(populate_existing=True)
            )
        ).all()
    )
    moved, changed = 0, False
    for index, pool in enumerate(pools):
        if pool.flowed_at is not None or pool.closes_at > now:
            continue
        unused = pool.size - pool.taken
        later = next((p for p in pools[index + 1 :] if p.closes_at > now), None)
        if later is not None and unused > 0:
            pool.size = pool.taken
            later.size += unused
            later.carried_in += unused
            moved += unused
        pool.flowed_at, changed = now, True
    if changed:
        await session.execute(
            update(Event)
            .where(col(Event.id) == event_id)
            .values(queue_serving=col(Event.queue_serving))
            .execution_options(synchronize_session=False)
        )
    await session.flush()
    return moved


async def give_back_seat(
    *, session: AsyncSession, event_id: uuid.UUID, signup_id: uuid.UUID, now: datetime
) -> None:
    """A seat freed with nobody on the waitlist (the caller holds the event row's lock and
    counted it free): free again in a pool, so that new tickets can take it and the pools'
    ``taken`` still add up to ``confirmed_count``. The pool is the released signup's
    ticket's when it still counts a seat (an offer may have moved the seat), else the
    highest-rank pool that does; a closed pool hands the seat to the first open one."""
    own = (
        select(col(QueueTicket.pool_id))
        .where(col(QueueTicket.signup_id) == signup_id)
        .scalar_subquery()
    )
    counted = list(
        (
            await session.scalars(
                select(EventPool)
                .where(col(EventPool.event_id) == event_id)
                .order_by(
                    func.coalesce(col(EventPool.id) == own, False).desc(),
                    col(EventPool.rank).desc(),
                )
            )
        ).all()
    )
    source = next((pool for pool in counted if pool.taken > 0), None)
    if source is None:
        return
    source.taken -= 1
    if source.closes_at <= now:
        later = min(
            (pool for pool in counted if pool.closes_at > now),
            key=lambda pool: pool.rank,
            default=None,
        )
        if later is not None:
            source.size -= 1
            later.size += 1
            later.carried_in += 1
    await session.flush()


_waiting = aliased(QueueTicket, name="waiting")
QUEUE_VIEW = (
    select(
        col(EventPool.id),
        col(EventPool.name),
        col(EventPool.audience),
        col(EventPool.size),
        col(EventPool.taken),
        col(EventPool.opens_at),
        col(EventPool.closes_at),
        select(func.count())
        .where(col(_waiting.event_id) == bindparam("event_id"), col(_waiting.state) == "queued")
        .scalar_subquery()
        .label("length"),
        col(QueueTicket.id).label("my_ticket_id"),
        col(QueueTicket.number).label("my_ticket_number"),
        col(QueueTicket.state).label("my_ticket_state"),
    )
    .outerjoin(
        QueueTicket,
        and_(
            col(QueueTicket.event_id) == col(EventPool.event_id),
            col(QueueTicket.user_id) == bindparam("viewer"),
        ),
    )
    .where(col(EventPool.event_id) == bindparam("event_id"))
    .order_by(col(EventPool.rank))
)
"""A queue event's pools, queue length and the viewer's ticket: the event page's one extra
statement (``viewer`` may be null). Built once."""


def queue_public(
    rows: Sequence[Mapping[str, Any]], *, serving: int, now: datetime
) -> tuple[list[PoolPublic], QueuePublic, ViewerTicketPublic | None]:
    """The event page's ``pools``, ``queue`` and ``my_ticket`` from :data:`QUEUE_VIEW`'s rows."""
    pools = [
        PoolPublic(
            id=row["id"],
            name=row["name"],
            audience=row["audience"],
            size=row["size"],
            taken=row["taken"],
            seats_left=max(row["size"] - row["taken"], 0),
            opens_at=row["opens_at"],
            closes_at=row["closes_at"],
        )
        for row in rows
    ]
    waves = [pool.opens_at for pool in pools if pool.opens_at > now]
    queue = QueuePublic(
        length=rows[0]["length"] if rows else 0,
        serving=serving,
        next_wave_at=min(waves) if waves else None,
    )
    mine = next((row for row in rows if row["my_ticket_id"] is not None), None)
    ticket = (
        ViewerTicketPublic(
            id=mine["my_ticket_id"],
            number=mine["my_ticket_number"],
            state=TicketState(mine["my_ticket_state"]),
        )
        if mine
        else None
    )
    return pools, queue, ticket


async def queue_page(
    *, reads: DirectStatements, event_id: uuid.UUID, viewer: uuid.UUID | None
) -> list[Mapping[str, Any]]:
    """:data:`QUEUE_VIEW`'s rows for the event page (one statement, without the ORM)."""
    return await reads.all(QUEUE_VIEW, event_id=event_id, viewer=viewer)


async def pools_of(*, session: AsyncSession, event_id: uuid.UUID) -> list[EventPool]:
    """The event's pools by rank."""
    found = await session.scalars(
        select(EventPool).where(col(EventPool.event_id) == event_id).order_by(col(EventPool.rank))
    )
    return list(found.all())
