"""The PostgreSQL fast path of a first-come signup: seat (or waitlist place), signup row and
outbox row in one statement that commits by itself, so the event row is locked only while
PostgreSQL runs that statement, never across a round trip to this process.

Why: the hot event row is locked from the conditional ``UPDATE`` until ``COMMIT``. Issued
as separate statements (update, insert signup, insert outbox, commit), each step waits for
a turn of the service's busy event loop while every other signup of that event queues on
the lock. Even as one statement followed by ``COMMIT``, the lock spans a round trip and a
loop turn (about 4 ms under load, capping a rush at ~250 signups/s). So the common case
runs first, as the request's only write, in its own implicit transaction
(:func:`try_alone`, through :func:`kit.db.execute_alone`): like ``pgbench``'s hot-row
update, the lock lasts for the statement and its commit inside PostgreSQL.

The conditional updates run as data-modifying CTEs: ``seat`` takes a seat when
``confirmed_count < capacity``; only when it did not, ``place`` takes the next
``waitlist_next``; both only for a published, open, first-come event the caller is
eligible for. The signup and its outbox row are inserted from their results, atomically
with the counters. A duplicate (the user, or the Idempotency-Key) fails the unique keys,
which aborts the whole statement, counters included. The CHECK constraint and the unique
keys hold exactly as on the portable path in :mod:`.signups`; the outbox payloads are built
to the contracts' shapes (a test validates them against the models).
"""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events import SignupConfirmed, SignupWaitlisted
from kit.auth import Principal
from kit.bus.outbox import wake_relay_after_commit
from kit.db import execute_alone
from kit.ids import new_id
from services.events.models import Event, Signup, SignupStatus
from services.events.service.access import token_eligibilities

PLACE = text("""
WITH seat AS (
    UPDATE events SET confirmed_count = confirmed_count + 1
    WHERE id = :event_id AND status = 'published' AND signup_mode = 'first_come'
      AND opens_at <= :now AND closes_at > :now AND eligibility = ANY(:eligible_for)
      AND confirmed_count < capacity
    RETURNING points_fee
), place AS (
    UPDATE events SET waitlist_next = waitlist_next + 1
    WHERE id = :event_id AND status = 'published' AND signup_mode = 'first_come'
      AND opens_at <= :now AND closes_at > :now AND eligibility = ANY(:eligible_for)
      AND NOT EXISTS (SELECT FROM seat)
    RETURNING points_fee, waitlist_next AS position
), placed AS (
    SELECT 'confirmed' AS status, CAST(NULL AS integer) AS position, points_fee FROM seat
    UNION ALL
    SELECT 'waitlisted', position, points_fee FROM place
), signup AS (
    INSERT INTO signups (id, event_id, user_id, status, waitlist_position, fee_points,
                         lost_draw, idempotency_key, created_at, updated_at)
    SELECT :signup_id, :event_id, :user_id, placed.status, placed.position,
           placed.points_fee, false, :key, :now, :now
    FROM placed
    RETURNING status, waitlist_position, fee_points
), message AS (
    INSERT INTO outbox (id, topic, key, type, source, data, created_at)
    SELECT :message_id, :topic, CAST(:event_id AS varchar),
       CASE WHEN signup.status = 'confirmed' THEN :confirmed_type ELSE :waitlisted_type END,
       :source,
       CASE WHEN signup.status = 'confirmed' THEN
           json_build_object('signup_id', CAST(:signup_id AS uuid),
                             'event_id', CAST(:event_id AS uuid),
                             'user_id', CAST(:user_id AS uuid),
                             'fee_points', signup.fee_points, 'via', 'first_come')
       ELSE
           json_build_object('signup_id', CAST(:signup_id AS uuid),
                             'event_id', CAST(:event_id AS uuid),
                             'user_id', CAST(:user_id AS uuid),
                             'position', signup.waitlist_position)
       END,
       :now
    FROM signup
    RETURNING id
)
SELECT signup.status, signup.waitlist_position, signup.fee_points FROM signup, message
""")


def applies(session: AsyncSession) -> bool:
    """The one-statement path exists on PostgreSQL only (SQLite takes the portable path)."""
    return session.get_bind().dialect.name == "postgresql"


async def try_alone(
    session: AsyncSession,
    event_id: uuid.UUID,
    principal: Principal,
    key: str | None,
    now: datetime,
    *,
    source: str,
) -> Signup | None:
    """The rush's common case as one self-committing statement, before anything else.

    Only when the unit of work has not started (nothing to be atomic with). The statement
    places a new signup of a published, open, first-come event that the caller's token
    makes them eligible for; anything else (a retry, an earlier cancelled signup, an
    Idempotency-Key used before, a closed or draw event, eligibility only by announced
    roles) writes nothing, either because no row matched or because a unique key refused
    the insert (the statement's counter updates are then undone with it). None then: the
    caller takes the full path, which answers every such case.
    """
    if session.in_transaction():
        return None
    params = _params(event_id, principal.user_id, key, now, token_eligibilities(principal), source)
    try:
        rows = await execute_alone(session, PLACE, params)
    except IntegrityError:
        return None
    return _placed(session, rows[0] if rows else None, params)


async def place(
    session: AsyncSession,
    event: Event,
    user_id: uuid.UUID,
    key: str | None,
    now: datetime,
    *,
    source: str,
) -> Signup | None:
    """Inside the unit of work (eligibility already checked): the new signup, or None when
    the event closed meanwhile. A duplicate raises ``IntegrityError``: the caller rolls the
    whole transaction back, counters included."""
    params = _params(event.id, user_id, key, now, [event.eligibility], source)
    row = (await session.execute(PLACE, params)).first()
    return _placed(session, row, params)


def _params(
    event_id: uuid.UUID,
    user_id: uuid.UUID,
    key: str | None,
    now: datetime,
    eligible_for: list[str],
    source: str,
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "now": now,
        "signup_id": new_id(),
        "user_id": user_id,
        "key": key,
        "eligible_for": eligible_for,
        "message_id": new_id(),
        "topic": SignupConfirmed.topic.name,
        "confirmed_type": SignupConfirmed.event_type,
        "waitlisted_type": SignupWaitlisted.event_type,
        "source": source,
    }


def _placed(session: AsyncSession, row: Any, params: dict[str, Any]) -> Signup | None:
    if row is None:
        return None
    wake_relay_after_commit(session)
    now = params["now"]
    return Signup(
        id=params["signup_id"],
        event_id=params["event_id"],
        user_id=params["user_id"],
        status=SignupStatus(row[0]),
        waitlist_position=row[1],
        fee_points=row[2],
        idempotency_key=params["key"],
        created_at=now,
        updated_at=now,
    )
