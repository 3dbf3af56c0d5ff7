"""Queue tickets: a place in a queue event's arrival order, issued at once ("you are number
312"), answered later by the allocator (:mod:`.allocator`) strictly in ticket order.

**Issuing.** One query reads the event, its pools, the caller's existing ticket and their
announced roles; a retry, a second device or a reconnect gets that ticket back and never
consumes a number. A new ticket on PostgreSQL is one self-committing statement,
:data:`ISSUE`: it takes the event's advisory lock *shared* first (a CTE the insert selects
from), then ``nextval`` of the event's own sequence (``event_queue_<hex>``, created when the
event is published), and inserts ``ON CONFLICT (event_id, user_id) DO NOTHING`` (two
devices at once: the loser reads the winner's ticket). It writes no hot row: tickets of one
event never wait for each other, only for the allocator's brief exclusive lock (the
watermark, see :mod:`.allocator`). SQLite (``make run``) numbers ``max(number) + 1`` in the
insert itself, inside its one-writer-at-a-time transaction. The pool is chosen from the
read before the statement: a ticket that chose a pool in the instant it closed may commit
after the allocator flowed that pool's seats on; it is then answered from the waitlist.

**Reading.** ``GET /v1/tickets/{id}?wait=`` long-polls through one :class:`TicketWatch` per
process: per event with waiters it reads the allocator's ``queue_serving`` mark (every
ticket up to it is answered) every :data:`WATCH_SECONDS`, or at once when this process's
allocator answered some, and wakes the waiters it passed; each then reads its ticket once.
"""

import asyncio
import contextlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from kit.auth import Principal
from kit.db import UTCDateTime, after_commit, execute_alone, utcnow
from kit.db.direct import DirectStatements
from kit.ids import new_id
from kit.problems import Conflict, Forbidden, NotFound
from services.events.models import (
    Event,
    EventPool,
    EventStatus,
    MemberRoles,
    Penalty,
    QueueTicket,
    SignupMode,
    TicketState,
)
from services.events.service import penalties, pools
from services.events.service.access import is_staff, may_see, meets_eligibility

QUEUE_WAKE_KEY = "paddock.events.queue_wake"
WATCH_SECONDS = 0.25
EVENT_KEY_SQL = "hashtextextended(CAST(CAST(:event_id AS uuid) AS text), 0)"
"""The event's advisory lock key, from its id (tickets take it shared, the watermark
exclusive)."""
SEQUENCE_SQL = "'event_queue_' || replace(CAST(CAST(:event_id AS uuid) AS text), '-', '')"
"""The name of the event's ticket sequence, ``event_queue_<hex of its id>``."""

ISSUE = text(f"""
WITH gate AS MATERIALIZED (
    SELECT pg_advisory_xact_lock_shared({EVENT_KEY_SQL}) AS locked
), ticket AS (
    INSERT INTO queue_tickets (id, event_id, user_id, number, pool_id, state, created_at)
    SELECT :ticket_id, events.id, :user_id,
           nextval(CAST({SEQUENCE_SQL} AS regclass)), :pool_id, 'queued', :now
    FROM gate, events
    WHERE events.id = :event_id AND events.status = 'published'
      AND events.signup_mode = 'queue'
    ON CONFLICT (event_id, user_id) DO NOTHING
    RETURNING id, number, created_at
)
SELECT id, number, created_at FROM ticket
""")  # noqa: S608 - only this module's constant SQL fragments are formatted in
"""A new ticket, one self-committing statement (see the module docstring); no row back
when the caller already has one or the event is no longer a published queue event."""


def sequence_name(event_id: uuid.UUID) -> str:
    return f"event_queue_{event_id.hex}"


async def create_sequence(*, session: AsyncSession, event_id: uuid.UUID) -> None:
    """Create the event's ticket sequence (PostgreSQL; numbers start at 1), if missing."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text(f"CREATE SEQUENCE IF NOT EXISTS {sequence_name(event_id)}"))


_TICKET_COLUMNS: tuple[Any, ...] = (
    col(QueueTicket.id).label("ticket_id"),
    col(QueueTicket.event_id).label("ticket_event_id"),
    col(QueueTicket.user_id).label("ticket_user_id"),
    col(QueueTicket.number).label("ticket_number"),
    col(QueueTicket.pool_id).label("ticket_pool_id"),
    col(QueueTicket.state).label("ticket_state"),
    col(QueueTicket.signup_id).label("ticket_signup_id"),
    col(QueueTicket.waitlist_position).label("ticket_waitlist_position"),
    col(QueueTicket.created_at).label("ticket_created_at"),
    col(QueueTicket.answered_at).label("ticket_answered_at"),
)

_BEFORE_ISSUE: Any = (
    select(
        col(Event.id),
        col(Event.status),
        col(Event.signup_mode),
        col(Event.organizer_id),
        col(Event.eligibility),
        col(Event.min_tier),
        col(Event.opens_at),
        col(Event.closes_at),
        col(Event.queue_serving),
        col(EventPool.id).label("pool_id"),
        col(EventPool.name).label("pool_name"),
        col(EventPool.audience),
        col(EventPool.opens_at).label("pool_opens_at"),
        col(EventPool.closes_at).label("pool_closes_at"),
        *_TICKET_COLUMNS,
        col(MemberRoles.roles).label("announced_roles"),
        select(func.max(col(Penalty.delay_seconds)))
        .where(
            col(Penalty.user_id) == bindparam("user_id"),
            penalties.active(bindparam("now", type_=UTCDateTime)),
        )
        .scalar_subquery()
        .label("penalty_delay_seconds"),
    )
    .select_from(Event)
    .outerjoin(EventPool, col(EventPool.event_id) == col(Event.id))
    .outerjoin(
        QueueTicket,
        and_(
            col(QueueTicket.event_id) == col(Event.id),
            col(QueueTicket.user_id) == bindparam("user_id"),
        ),
    )
    .outerjoin(MemberRoles, col(MemberRoles.user_id) == bindparam("user_id"))
    .where(col(Event.id) == bindparam("event_id"))
    .order_by(col(EventPool.rank))
)
"""The event, its pools by rank, the caller's ticket, announced roles and the delay of their
active no-show penalty (if any): one query."""

_TICKET = (
    select(*_TICKET_COLUMNS, col(EventPool.name).label("pool_name"), col(Event.queue_serving))
    .join(EventPool, col(EventPool.id) == col(QueueTicket.pool_id))
    .join(Event, col(Event.id) == col(QueueTicket.event_id))
)
_TICKET_BY_ID = _TICKET.where(col(QueueTicket.id) == bindparam("ticket_id"))
_TICKET_OF_USER = _TICKET.where(
    col(QueueTicket.event_id) == bindparam("event_id"),
    col(QueueTicket.user_id) == bindparam("user_id"),
)
_SERVING = select(col(Event.queue_serving)).where(col(Event.id) == bindparam("event_id"))


@dataclass(frozen=True)
class Ticket:
    """A ticket as the API shows it."""

    id: uuid.UUID
    event_id: uuid.UUID
    user_id: uuid.UUID
    number: int
    pool_id: uuid.UUID
    pool_name: str
    state: TicketState
    signup_id: uuid.UUID | None
    waitlist_position: int | None
    ahead: int
    created_at: datetime
    answered_at: datetime | None


def _ticket(row: Mapping[str, Any], pool_name: str, serving: int) -> Ticket:
    state = TicketState(row["ticket_state"])
    number = int(row["ticket_number"])
    return Ticket(
        id=row["ticket_id"],
        event_id=row["ticket_event_id"],
        user_id=row["ticket_user_id"],
        number=number,
        pool_id=row["ticket_pool_id"],
        pool_name=pool_name,
        state=state,
        signup_id=row["ticket_signup_id"],
        waitlist_position=row["ticket_waitlist_position"],
        ahead=max(number - serving - 1, 0) if state == TicketState.QUEUED else 0,
        created_at=row["ticket_created_at"],
        answered_at=row["ticket_answered_at"],
    )


def _from_view(row: Mapping[str, Any]) -> Ticket:
    return _ticket(row, row["pool_name"], int(row["queue_serving"]))


def _roles(value: Any) -> frozenset[str]:
    if isinstance(value, str):  # asyncpg gives json as text
        value = json.loads(value)
    return frozenset(str(role) for role in value or ())


async def issue_ticket(
    *,
    session: AsyncSession,
    reads: DirectStatements,
    event_id: uuid.UUID,
    principal: Principal,
    idempotency_key: str | None,
) -> tuple[Ticket, bool]:
    """The caller's ticket to the queue event: ``(ticket, created)``; the same ticket on a
    retry. ``idempotency_key`` needs no storage: the ticket is unique per user and event."""
    del idempotency_key  # (event, user) is the key already
    user_id = principal.user_id
    rows = await reads.all(_BEFORE_ISSUE, event_id=event_id, user_id=user_id, now=utcnow())
    if not rows or not may_see(
        principal, status=rows[0]["status"], organizer_id=rows[0]["organizer_id"]
    ):
        raise NotFound("no such event")
    event = rows[0]
    names = {row["pool_id"]: row["pool_name"] for row in rows}
    if event["ticket_id"] is not None:
        return _ticket(event, names[event["ticket_pool_id"]], int(event["queue_serving"])), False
    _require_open(event, utcnow())
    announced = _roles(event["announced_roles"])
    eligible = {"eligibility": event["eligibility"], "min_tier": event["min_tier"]}
    if not (
        meets_eligibility(principal.roles, principal.tier, **eligible)
        or (
            event["announced_roles"] is not None
            and meets_eligibility(announced, principal.tier, **eligible)
        )
    ):
        raise Forbidden(
            f"this event is for {str(event['eligibility']).replace('_', ' ')} only",
            code="not-eligible",
            eligibility=event["eligibility"],
        )
    now = utcnow()
    pool = pools.choose(rows, principal.roles | announced, now)
    if event["penalty_delay_seconds"]:
        await penalties.require_open_for(
            session=session, user_id=user_id, opens_at=pool["pool_opens_at"], now=now
        )
    params = {
        "ticket_id": new_id(),
        "event_id": event_id,
        "user_id": user_id,
        "pool_id": pool["pool_id"],
        "now": now,
    }
    if session.get_bind().dialect.name == "postgresql":
        issued = await execute_alone(session, ISSUE, params)
        if issued:  # the new ticket, as the statement wrote it: no read back
            _wake_allocator_after_commit(session)
            number = int(issued[0]["number"])
            ticket = Ticket(
                id=params["ticket_id"],
                event_id=event_id,
                user_id=user_id,
                number=number,
                pool_id=pool["pool_id"],
                pool_name=pool["pool_name"],
                state=TicketState.QUEUED,
                signup_id=None,
                waitlist_position=None,
                ahead=max(number - int(event["queue_serving"]) - 1, 0),
                created_at=issued[0]["created_at"],
                answered_at=None,
            )
            return ticket, True
        existing = await reads.one(_TICKET_OF_USER, event_id=event_id, user_id=user_id)
    else:
        issued = await _issue_portably(session, params)
        found = await session.execute(_TICKET_OF_USER, {"event_id": event_id, "user_id": user_id})
        first = found.mappings().first()
        existing = dict(first) if first is not None else None
    if existing is None:
        raise Conflict("signups for this event closed meanwhile", code="signups-closed")
    ticket = _from_view(existing)
    if issued:
        _wake_allocator_after_commit(session)
    return ticket, bool(issued)


async def _issue_portably(session: AsyncSession, params: dict[str, Any]) -> list[Mapping[str, Any]]:
    """SQLite: the next number is ``max(number) + 1``, computed in the insert itself."""
    event_id = params["event_id"]
    number = (
        select(func.coalesce(func.max(col(QueueTicket.number)), 0) + 1)
        .where(col(QueueTicket.event_id) == event_id)
        .scalar_subquery()
    )
    still_open = await session.scalar(
        select(col(Event.id)).where(
            col(Event.id) == event_id,
            col(Event.status) == EventStatus.PUBLISHED,
            col(Event.signup_mode) == SignupMode.QUEUE,
        )
    )
    if still_open is None:
        return []
    ticket = QueueTicket(
        id=params["ticket_id"],
        event_id=event_id,
        user_id=params["user_id"],
        number=0,
        pool_id=params["pool_id"],
        created_at=params["now"],
    )
    ticket.number = number  # type: ignore[assignment]  # evaluated by the INSERT
    try:
        async with session.begin_nested():
            session.add(ticket)
            await session.flush()
    except IntegrityError:
        return []  # a concurrent request of the same user won
    # the unit of work commits the ticket; the caller's read below must see it
    return [{"id": params["ticket_id"]}]


def _require_open(event: Mapping[str, Any], now: datetime) -> None:
    if event["signup_mode"] != SignupMode.QUEUE:
        raise Conflict(
            "this event takes signups directly, not through a queue",
            code="not-a-queue",
            signups=f"/v1/events/{event['id']}/signups",
        )
    if event["status"] == EventStatus.CANCELLED:
        raise Conflict("this event was cancelled", code="event-cancelled")
    if event["status"] != EventStatus.PUBLISHED:
        raise Conflict(f"this event is {event['status']}", code="event-not-open")
    if now < event["opens_at"]:
        raise Conflict(
            f"signups open at {event['opens_at'].isoformat()}",
            code="signups-not-open",
            opens_at=event["opens_at"].isoformat(),
        )
    if now >= event["closes_at"]:
        raise Conflict(
            f"signups closed at {event['closes_at'].isoformat()}",
            code="signups-closed",
            closes_at=event["closes_at"].isoformat(),
        )


def _wake_allocator_after_commit(session: AsyncSession) -> None:
    wake = session.info.get(QUEUE_WAKE_KEY)
    if wake is not None:
        after_commit(session, wake)


async def get_ticket(
    *,
    reads: DirectStatements,
    watch: "TicketWatch",
    ticket_id: uuid.UUID,
    principal: Principal,
    wait: float,
) -> Ticket:
    """The caller's own ticket (any, for staff; someone else's is 'not found'); with
    ``wait``, as soon as it is answered or after ``wait`` seconds."""
    row = await reads.one(_TICKET_BY_ID, ticket_id=ticket_id)
    if row is None or not (row["ticket_user_id"] == principal.user_id or is_staff(principal)):
        raise NotFound("no such ticket")
    ticket = _from_view(row)
    if ticket.state != TicketState.QUEUED or wait <= 0:
        return ticket
    if await watch.wait(reads=reads, event_id=ticket.event_id, number=ticket.number, seconds=wait):
        row = await reads.one(_TICKET_BY_ID, ticket_id=ticket_id)
        if row is not None:
            ticket = _from_view(row)
    return ticket


class TicketWatch:
    """The long-poll of one process (a :class:`kit.app.Component`): one reader per event
    with waiters, whatever their number (see the module docstring)."""

    name = "ticket-watch"

    def __init__(self) -> None:
        self._waiters: dict[uuid.UUID, list[tuple[int, asyncio.Event]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._poke = asyncio.Event()
        self._reads: DirectStatements | None = None

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def check(self) -> None:
        return None

    def poke(self) -> None:
        """Something was answered: read the marks now."""
        self._poke.set()

    async def wait(
        self, *, reads: DirectStatements, event_id: uuid.UUID, number: int, seconds: float
    ) -> bool:
        """Whether ticket ``number`` of the event was answered within ``seconds``."""
        answered = asyncio.Event()
        entry = (number, answered)
        self._waiters.setdefault(event_id, []).append(entry)
        self._reads = reads
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="events-ticket-watch")
        try:
            async with asyncio.timeout(seconds):
                await answered.wait()
            return True
        except TimeoutError:
            return False
        finally:
            waiting = self._waiters.get(event_id, [])
            if entry in waiting:
                waiting.remove(entry)
            if not waiting:
                self._waiters.pop(event_id, None)

    async def _run(self) -> None:
        while self._waiters:
            self._poke.clear()
            assert self._reads is not None
            for event_id, waiting in list(self._waiters.items()):
                try:
                    row = await self._reads.one(_SERVING, event_id=event_id)
                except Exception:  # the database is away: the waiters time out or retry
                    row = None
                serving = int(row["queue_serving"]) if row else 0
                for number, answered in waiting:
                    if number <= serving:
                        answered.set()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(WATCH_SECONDS):
                    await self._poke.wait()
