"""The queue's allocator: answers queue tickets strictly in ticket order, in batches, and
moves closed pools' unused seats on (the waves).

**Why the order is strict under concurrency.** Ticket numbers come from a sequence, so a
ticket with a lower number can commit *after* one with a higher number. Before allocating,
the allocator takes a *watermark* in a tiny transaction of its own: ``SELECT
pg_advisory_xact_lock(<event key>)`` (exclusive: it waits for every ticket statement in
flight, which hold the same lock *shared* from before their ``nextval`` until their commit)
and then reads the sequence's last value, and commits. Every ticket numbered up to the
watermark is then committed, and every later one gets a higher number. The allocation
takes only tickets up to the watermark, lowest numbers first: no ticket can ever appear
below a number already answered. (SQLite, with one writer at a time, uses ``max(number)``.)

**Allocation** is one data-modifying statement on PostgreSQL, :data:`ALLOCATE`: it locks the
event row ``FOR UPDATE SKIP LOCKED`` (a second replica's allocator skips the event; it also
skips when the row changed after the statement's snapshot was taken, so that every count
it reads is current), takes up to ``EVENTS_ALLOCATOR_BATCH`` queued tickets up to the
watermark by number, ranks them per pool, seats those within their pool's ``size - taken``,
puts the rest on the one waitlist across pools in ticket order (positions from
``events.waitlist_next``), sold out past ``events.waitlist_limit``; it inserts their signups
and ``signup.confirmed`` (``via="queue"``) / ``signup.waitlisted`` outbox rows, updates the
tickets, the pools' ``taken``, the event's ``confirmed_count``, ``waitlist_next`` and
``queue_serving`` (every ticket up to it answered). Batches repeat while full; then closed
pools flow (:func:`.pools.flow_closed`). SQLite takes the same decisions
(:func:`decide`, which the tests hold the statement to) with the ORM.

:class:`Allocator` is the component that runs it: woken after a ticket commits in this
process, else every ``EVENTS_ALLOCATOR_INTERVAL`` seconds; its health shows in ``/readyz``.
"""

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import bindparam, exists, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from contracts.events import SignupConfirmed, SignupWaitlisted
from kit.bus.outbox import OUTBOX_WAKE_KEY, publish
from kit.db import Database, utcnow
from services.events.config import EventsSettings
from services.events.models import (
    Event,
    EventPool,
    EventStatus,
    QueueTicket,
    Signup,
    SignupMode,
    SignupStatus,
    TicketState,
)
from services.events.service import pools
from services.events.service.signups import confirmed_payload, waitlisted_payload
from services.events.service.tickets import EVENT_KEY_SQL, QUEUE_WAKE_KEY, SEQUENCE_SQL, TicketWatch

log = logging.getLogger(__name__)

QUEUE_DEPTH = Gauge(
    "paddock_events_queue_depth", "Queue tickets waiting for their answer (all events)", ["service"]
)
QUEUE_ANSWERED = Counter(
    "paddock_events_queue_answered_total",
    "Queue tickets answered by the allocator, by answer",
    ["service", "state"],
)
QUEUE_BATCH_SECONDS = Histogram(
    "paddock_events_queue_batch_seconds",
    "Time of one allocation batch (watermark and statement)",
    ["service"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
DEPTH_EVERY_SECONDS = 1.0

WATERMARK_LOCK = text(f"SELECT pg_advisory_xact_lock({EVENT_KEY_SQL})")
WATERMARK_READ = text(
    f"SELECT coalesce(pg_sequence_last_value(CAST({SEQUENCE_SQL} AS regclass)), 0) AS last"
)

ALLOCATE = text("""
WITH seen AS (
    SELECT xmin AS version FROM events WHERE id = :event_id
), locked AS (
    SELECT id, xmin AS version, points_fee, waitlist_next, waitlist_limit
    FROM events
    WHERE id = :event_id AND status = 'published' AND signup_mode = 'queue'
    FOR UPDATE SKIP LOCKED
), event AS (
    SELECT locked.* FROM locked JOIN seen ON seen.version = locked.version
), picked AS (
    SELECT t.id, t.user_id, t.number, t.pool_id
    FROM queue_tickets t
    WHERE t.event_id = :event_id AND t.state = 'queued' AND t.number <= :watermark
      AND EXISTS (SELECT FROM event)
    ORDER BY t.number
    LIMIT :batch
), ranked AS (
    SELECT picked.*, p.size - p.taken AS free,
           row_number() OVER (PARTITION BY picked.pool_id ORDER BY picked.number) AS pool_rank
    FROM picked JOIN event_pools p ON p.id = picked.pool_id
), seated AS (
    SELECT ranked.*, ranked.pool_rank <= ranked.free AS seat,
           sum(CASE WHEN ranked.pool_rank <= ranked.free THEN 0 ELSE 1 END)
               OVER (ORDER BY ranked.number) AS wait_rank
    FROM ranked
), answer AS (
    SELECT s.id, s.user_id, s.number, s.pool_id, e.points_fee,
           CASE WHEN s.seat THEN 'confirmed'
                WHEN e.waitlist_limit IS NULL
                     OR e.waitlist_next + s.wait_rank <= e.waitlist_limit THEN 'waitlisted'
                ELSE 'sold_out' END AS state,
           CASE WHEN NOT s.seat AND (e.waitlist_limit IS NULL
                     OR e.waitlist_next + s.wait_rank <= e.waitlist_limit)
                THEN CAST(e.waitlist_next + s.wait_rank AS integer) END AS position
    FROM seated s, event e
), signup AS (
    INSERT INTO signups (id, event_id, user_id, status, waitlist_position, fee_points,
                         lost_draw, idempotency_key, created_at, updated_at)
    SELECT gen_random_uuid(), :event_id, a.user_id, a.state, a.position, a.points_fee,
           false, NULL, :now, :now
    FROM answer a WHERE a.state <> 'sold_out'
    ORDER BY a.number
    RETURNING id, user_id, status, waitlist_position, fee_points
), ticket AS (
    UPDATE queue_tickets t
    SET state = a.state, signup_id = s.id, waitlist_position = a.position, answered_at = :now
    FROM answer a LEFT JOIN signup s ON s.user_id = a.user_id
    WHERE t.id = a.id AND t.state = 'queued'
    RETURNING t.id
), pool AS (
    UPDATE event_pools p SET taken = p.taken + c.seats
    FROM (SELECT pool_id, count(*) AS seats FROM answer
          WHERE state = 'confirmed' GROUP BY pool_id) c
    WHERE p.id = c.pool_id
    RETURNING p.id
), counters AS (
    UPDATE events
    SET confirmed_count = confirmed_count
            + (SELECT count(*) FROM answer WHERE state = 'confirmed'),
        waitlist_next = waitlist_next
            + (SELECT count(*) FROM answer WHERE state = 'waitlisted'),
        queue_serving = (SELECT max(number) FROM answer)
    WHERE id = :event_id AND EXISTS (SELECT FROM answer)
    RETURNING id
), message AS (
    INSERT INTO outbox (id, topic, key, type, source, actor_id, data, created_at)
    SELECT gen_random_uuid(), :topic, CAST(:event_id AS varchar),
       CASE WHEN s.status = 'confirmed' THEN :confirmed_type ELSE :waitlisted_type END,
       :source, s.user_id,
       CASE WHEN s.status = 'confirmed' THEN
           json_build_object('signup_id', s.id, 'event_id', CAST(:event_id AS uuid),
                             'user_id', s.user_id, 'fee_points', s.fee_points, 'via', 'queue')
       ELSE
           json_build_object('signup_id', s.id, 'event_id', CAST(:event_id AS uuid),
                             'user_id', s.user_id, 'position', s.waitlist_position)
       END,
       :now
    FROM signup s JOIN answer a ON a.user_id = s.user_id
    ORDER BY a.number
    RETURNING id
)
SELECT (SELECT count(*) FROM event) AS locked,
       (SELECT count(*) FROM ticket) AS tickets,
       count(*) FILTER (WHERE state = 'confirmed') AS confirmed,
       count(*) FILTER (WHERE state = 'waitlisted') AS waitlisted,
       count(*) FILTER (WHERE state = 'sold_out') AS sold_out
FROM answer
""")
"""One batch of answers in ticket order (see the module docstring). Its one row says
whether the event was locked and how many tickets got each answer."""


@dataclass(frozen=True)
class Decision:
    """The answer to one ticket."""

    ticket_id: uuid.UUID
    state: TicketState
    position: int | None = None


def decide(
    tickets: Sequence[tuple[uuid.UUID, uuid.UUID]],
    *,
    free: Mapping[uuid.UUID, int],
    waitlist_next: int,
    waitlist_limit: int | None,
) -> list[Decision]:
    """Answer ``tickets`` (``(ticket_id, pool_id)`` in ticket order): a seat while the
    ticket's pool has ``free`` seats left, else the next waitlist position after
    ``waitlist_next`` while under ``waitlist_limit``, else sold out. What :data:`ALLOCATE`
    decides, in Python (SQLite's path, and the reference the tests hold it to)."""
    left = dict(free)
    position = waitlist_next
    decisions = []
    for ticket_id, pool_id in tickets:
        if left.get(pool_id, 0) > 0:
            left[pool_id] -= 1
            decisions.append(Decision(ticket_id, TicketState.CONFIRMED))
        elif waitlist_limit is None or position < waitlist_limit:
            position += 1
            decisions.append(Decision(ticket_id, TicketState.WAITLISTED, position))
        else:
            decisions.append(Decision(ticket_id, TicketState.SOLD_OUT))
    return decisions


@dataclass(frozen=True)
class Batch:
    """What one allocation did; ``locked`` is false when another allocator had the event."""

    locked: bool
    confirmed: int = 0
    waitlisted: int = 0
    sold_out: int = 0

    @property
    def answered(self) -> int:
        return self.confirmed + self.waitlisted + self.sold_out


async def watermark(*, database: Database, event_id: uuid.UUID) -> int:
    """The highest ticket number below which every ticket is committed (module docstring)."""
    async with database.transaction() as session:
        if database.is_sqlite:
            highest = await session.scalar(
                select(func.max(col(QueueTicket.number))).where(
                    col(QueueTicket.event_id) == event_id
                )
            )
            return int(highest or 0)
        await session.execute(WATERMARK_LOCK, {"event_id": event_id})
        return int(await session.scalar(WATERMARK_READ, {"event_id": event_id}) or 0)


async def allocate_batch(
    *, database: Database, event_id: uuid.UUID, through: int, batch: int, now: datetime
) -> Batch:
    """Answer up to ``batch`` queued tickets numbered up to ``through``, lowest first."""
    if database.is_sqlite:
        async with database.transaction() as session:
            return await _allocate_portably(session, event_id, through, batch, now)
    row = await database.direct.one(
        ALLOCATE,
        event_id=event_id,
        watermark=through,
        batch=batch,
        now=now,
        topic=SignupConfirmed.topic.name,
        confirmed_type=SignupConfirmed.event_type,
        waitlisted_type=SignupWaitlisted.event_type,
        source=database.service,
    )
    assert row is not None, "ALLOCATE always returns its row"
    if row["tickets"] != row["confirmed"] + row["waitlisted"] + row["sold_out"]:
        raise RuntimeError("ALLOCATE updated another number of tickets than it answered")
    return Batch(
        locked=bool(row["locked"]),
        confirmed=int(row["confirmed"]),
        waitlisted=int(row["waitlisted"]),
        sold_out=int(row["sold_out"]),
    )


async def _allocate_portably(
    session: AsyncSession, event_id: uuid.UUID, through: int, batch: int, now: datetime
) -> Batch:
    """SQLite: the same answers by :func:`decide` and the ORM (one writer at a time: the
    first write takes the database's lock, so the reads after it are current)."""
    touched = await session.execute(
        update(Event)
        .where(
            col(Event.id) == event_id,
            col(Event.status) == EventStatus.PUBLISHED,
            col(Event.signup_mode) == SignupMode.QUEUE,
        )
        .values(queue_serving=col(Event.queue_serving))
        .execution_options(synchronize_session=False)
    )
    if not touched.rowcount:  # type: ignore[attr-defined]
        return Batch(locked=False)
    event = await session.get(Event, event_id, populate_existing=True)
    assert event is not None
    queued = (
        await session.scalars(
            select(QueueTicket)
            .where(
                col(QueueTicket.event_id) == event_id,
                col(QueueTicket.state) == TicketState.QUEUED,
                col(QueueTicket.number) <= through,
            )
            .order_by(col(QueueTicket.number))
            .limit(batch)
        )
    ).all()
    if not queued:
        return Batch(locked=True)
    pool_rows = await pools.pools_of(session=session, event_id=event_id)
    by_id = {pool.id: pool for pool in pool_rows}
    decisions = decide(
        [(ticket.id, ticket.pool_id) for ticket in queued],
        free={pool.id: pool.size - pool.taken for pool in pool_rows},
        waitlist_next=event.waitlist_next,
        waitlist_limit=event.waitlist_limit,
    )
    counts = {state: 0 for state in TicketState}
    seats: list[tuple[QueueTicket, Signup]] = []
    for ticket, decision in zip(queued, decisions, strict=True):
        counts[decision.state] += 1
        if decision.state == TicketState.SOLD_OUT:
            continue
        signup = Signup(
            event_id=event_id,
            user_id=ticket.user_id,
            status=SignupStatus(decision.state),
            waitlist_position=decision.position,
            fee_points=event.points_fee,
            created_at=now,
            updated_at=now,
        )
        session.add(signup)
        seats.append((ticket, signup))
        if decision.state == TicketState.CONFIRMED:
            by_id[ticket.pool_id].taken += 1
            publish(session, confirmed_payload(signup, "queue"), actor=ticket.user_id)
        else:
            publish(session, waitlisted_payload(signup), actor=ticket.user_id)
    await session.flush()  # the signups before the tickets that refer to them
    signup_of = {ticket.id: signup.id for ticket, signup in seats}
    for ticket, decision in zip(queued, decisions, strict=True):
        ticket.state, ticket.answered_at = decision.state, now
        ticket.waitlist_position = decision.position
        ticket.signup_id = signup_of.get(ticket.id)
    event.confirmed_count += counts[TicketState.CONFIRMED]
    event.waitlist_next += counts[TicketState.WAITLISTED]
    event.queue_serving = max(ticket.number for ticket in queued)
    await session.flush()
    return Batch(
        locked=True,
        confirmed=counts[TicketState.CONFIRMED],
        waitlisted=counts[TicketState.WAITLISTED],
        sold_out=counts[TicketState.SOLD_OUT],
    )


_BUSY = (
    select(col(Event.id))
    .where(
        col(Event.signup_mode) == SignupMode.QUEUE,
        col(Event.status) == EventStatus.PUBLISHED,
        or_(
            exists().where(
                col(QueueTicket.event_id) == col(Event.id),
                col(QueueTicket.state) == TicketState.QUEUED,
            ),
            exists().where(
                col(EventPool.event_id) == col(Event.id),
                col(EventPool.flowed_at).is_(None),
                col(EventPool.closes_at) <= bindparam("now"),
            ),
        ),
    )
    .order_by(col(Event.id))
)
_FLOW_DUE = select(
    exists().where(
        col(EventPool.event_id) == bindparam("event_id"),
        col(EventPool.flowed_at).is_(None),
        col(EventPool.closes_at) <= bindparam("now"),
    )
)
_DEPTH = select(func.count()).where(col(QueueTicket.state) == TicketState.QUEUED)


class Allocator:
    """The allocator of one replica (a :class:`kit.app.Component`); any number may run
    against one database (the event row's ``SKIP LOCKED`` lock keeps one per event)."""

    name = "queue-allocator"

    def __init__(
        self, *, database: Database, settings: EventsSettings, watch: TicketWatch | None = None
    ) -> None:
        self.database = database
        self.settings = settings
        self.watch = watch
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_error: str | None = "not started"
        self._depth_at = 0.0
        database.session_info[QUEUE_WAKE_KEY] = self.wake

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="events-queue-allocator")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def check(self) -> None:
        if self._last_error is not None:
            raise ConnectionError(self._last_error)

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.run_round()
                self._last_error = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # database trouble: say so in /readyz, try again
                self._last_error = f"{type(exc).__name__}: {exc}"[:200]
                log.warning("queue allocator failed: %s", self._last_error)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.allocator_interval):
                    await self._wake.wait()

    async def run_round(self) -> int:
        """Answer what can be answered now in every busy queue event; how many were."""
        now = utcnow()
        async with self.database.reading() as session:
            busy = list((await session.scalars(_BUSY, {"now": now})).all())
        answered = 0
        for event_id in busy:
            answered += await self.allocate_event(event_id)
        if answered or time.monotonic() - self._depth_at > DEPTH_EVERY_SECONDS:
            await self._measure_depth()
        return answered

    async def allocate_event(self, event_id: uuid.UUID) -> int:
        """Batches up to the watermark while they come back full, then the waves' flow."""
        answered = 0
        service = self.database.service
        while True:
            started = time.perf_counter()
            through = await watermark(database=self.database, event_id=event_id)
            done = await allocate_batch(
                database=self.database,
                event_id=event_id,
                through=through,
                batch=self.settings.allocator_batch,
                now=utcnow(),
            )
            QUEUE_BATCH_SECONDS.labels(service).observe(time.perf_counter() - started)
            if not done.locked:
                return answered  # another allocator has the event (or it changed): next round
            for state, count in (
                (TicketState.CONFIRMED, done.confirmed),
                (TicketState.WAITLISTED, done.waitlisted),
                (TicketState.SOLD_OUT, done.sold_out),
            ):
                if count:
                    QUEUE_ANSWERED.labels(service, state).inc(count)
            answered += done.answered
            if done.answered:
                self._answered()
            if done.answered < self.settings.allocator_batch:
                break
        now = utcnow()
        async with self.database.reading() as session:
            due = await session.scalar(_FLOW_DUE, {"event_id": event_id, "now": now})
        if due:
            async with self.database.transaction() as session:
                await pools.flow_closed(session=session, event_id=event_id, now=now)
        return answered

    def _answered(self) -> None:
        if self.watch is not None:
            self.watch.poke()
        wake = self.database.session_info.get(OUTBOX_WAKE_KEY)
        if callable(wake):
            wake()

    async def _measure_depth(self) -> None:
        self._depth_at = time.monotonic()
        async with self.database.reading() as session:
            depth = await session.scalar(_DEPTH)
        QUEUE_DEPTH.labels(self.database.service).set(depth or 0)
