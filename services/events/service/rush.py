"""The PostgreSQL fast path of a first-come signup: seat (or waitlist place), signup row and
outbox row in one statement, so the event row stays locked for a single round trip.

Why: the hot event row is locked from the conditional ``UPDATE`` until ``COMMIT``. Issued
as separate statements (update, insert signup, insert outbox, commit), each step waits for
a turn of the service's busy event loop while every other signup of that event queues on
the lock; under a rush that capped throughput at a few dozen signups per second. Here the
same conditional updates run as data-modifying CTEs: ``seat`` takes a seat when
``confirmed_count < capacity``; only when it did not, ``place`` takes the next
``waitlist_next``; the signup and its outbox row are inserted from their results. A
duplicate (the user, or the Idempotency-Key, racing itself) inserts nothing and the
caller rolls the whole transaction back, counters included. The CHECK constraint and the
unique keys hold exactly as on the portable path in :mod:`.signups`; the outbox payloads
are built to the contracts' shapes (a test validates them against the models).
"""

import uuid
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events import SignupConfirmed, SignupWaitlisted
from kit.bus.outbox import OUTBOX_WAKE_KEY
from kit.db import after_commit
from kit.ids import new_id
from services.events.models import Event, Signup, SignupStatus

PLACE = text("""
WITH seat AS (
    UPDATE events SET confirmed_count = confirmed_count + 1
    WHERE id = :event_id AND status = 'published' AND opens_at <= :now AND closes_at > :now
      AND confirmed_count < capacity
    RETURNING id
), place AS (
    UPDATE events SET waitlist_next = waitlist_next + 1
    WHERE id = :event_id AND status = 'published' AND opens_at <= :now AND closes_at > :now
      AND NOT EXISTS (SELECT FROM seat)
    RETURNING waitlist_next AS position
), placed AS (
    SELECT CASE WHEN place.position IS NULL THEN 'confirmed' ELSE 'waitlisted' END AS status,
           place.position
    FROM (SELECT FROM seat UNION ALL SELECT FROM place) AS taken
    LEFT JOIN place ON true
), signup AS (
    INSERT INTO signups (id, event_id, user_id, status, waitlist_position, fee_points,
                         lost_draw, idempotency_key, created_at, updated_at)
    SELECT :signup_id, :event_id, :user_id, placed.status, placed.position, :fee,
           false, :key, :now, :now
    FROM placed
    ON CONFLICT DO NOTHING
    RETURNING status, waitlist_position
), message AS (
    INSERT INTO outbox (id, topic, key, type, source, data, created_at)
    SELECT :message_id, :topic, CAST(:event_id AS varchar),
       CASE WHEN signup.status = 'confirmed' THEN :confirmed_type ELSE :waitlisted_type END,
       :source,
       CASE WHEN signup.status = 'confirmed' THEN
           json_build_object('signup_id', CAST(:signup_id AS uuid),
                             'event_id', CAST(:event_id AS uuid),
                             'user_id', CAST(:user_id AS uuid),
                             'fee_points', CAST(:fee AS integer), 'via', 'first_come')
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
SELECT signup.status, signup.waitlist_position FROM signup, message
""")


async def place(
    session: AsyncSession,
    event: Event,
    user_id: uuid.UUID,
    key: str | None,
    now: datetime,
    *,
    source: str,
) -> Signup | None:
    """The new signup, or None when nothing was written (a duplicate, or the event closed)."""
    signup_id = new_id()
    params = {
        "event_id": event.id,
        "now": now,
        "signup_id": signup_id,
        "user_id": user_id,
        "fee": event.points_fee,
        "key": key,
        "message_id": new_id(),
        "topic": SignupConfirmed.topic.name,
        "confirmed_type": SignupConfirmed.event_type,
        "waitlisted_type": SignupWaitlisted.event_type,
        "source": source,
    }
    row = (await session.execute(PLACE, params)).first()
    if row is None:
        return None
    wake = session.info.get(OUTBOX_WAKE_KEY)
    if wake is not None:
        after_commit(session, wake)
    return Signup(
        id=signup_id,
        event_id=event.id,
        user_id=user_id,
        status=SignupStatus(row[0]),
        waitlist_position=row[1],
        fee_points=event.points_fee,
        idempotency_key=key,
        created_at=now,
        updated_at=now,
    )
