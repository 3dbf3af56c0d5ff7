"""The PostgreSQL fast path of a first-come signup: seat (or waitlist place), signup row and
outbox row in one data-modifying statement that commits by itself, so the hot event row
is locked only while PostgreSQL runs it, never across a round trip to this process.
Anything unusual writes nothing here and takes the unit of work in :mod:`.signups`: so does
a user whose no-show penalty still delays this event (:mod:`.penalties`; for everyone else
that condition is one probe of ``ix_penalties_user_id_ends_at`` that finds nothing).
ADR 0007 explains why and what guards it.
"""

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events import SignupConfirmed, SignupWaitlisted
from kit.auth import Principal
from kit.bus.outbox import wake_relay_after_commit
from kit.db import execute_alone, service_of
from kit.ids import new_id
from services.events.models import Event, Signup, SignupStatus
from services.events.service.access import token_eligibilities

PLACE = text("""
WITH seat AS (
    UPDATE events SET confirmed_count = confirmed_count + 1
    WHERE id = :event_id AND status = 'published' AND signup_mode = 'first_come'
      AND opens_at <= :now AND closes_at > :now AND eligibility = ANY(:eligible_for)
      AND NOT EXISTS (SELECT FROM penalties
                      WHERE penalties.user_id = :user_id AND penalties.waived_at IS NULL
                        AND penalties.ends_at > :now
                        AND events.opens_at + penalties.delay_seconds * INTERVAL '1 second'
                            > :now)
      AND confirmed_count < capacity
    RETURNING points_fee
), place AS (
    UPDATE events SET waitlist_next = waitlist_next + 1
    WHERE id = :event_id AND status = 'published' AND signup_mode = 'first_come'
      AND opens_at <= :now AND closes_at > :now AND eligibility = ANY(:eligible_for)
      AND NOT EXISTS (SELECT FROM penalties
                      WHERE penalties.user_id = :user_id AND penalties.waived_at IS NULL
                        AND penalties.ends_at > :now
                        AND events.opens_at + penalties.delay_seconds * INTERVAL '1 second'
                            > :now)
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
    INSERT INTO outbox (id, topic, key, type, source, actor_id, data, created_at)
    SELECT :message_id, :topic, CAST(:event_id AS varchar),
       CASE WHEN signup.status = 'confirmed' THEN :confirmed_type ELSE :waitlisted_type END,
       :source, :user_id,
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


def applies(*, session: AsyncSession) -> bool:
    """The one-statement path exists on PostgreSQL only (SQLite takes the portable path)."""
    return session.get_bind().dialect.name == "postgresql"


async def try_alone(
    *,
    session: AsyncSession,
    event_id: uuid.UUID,
    principal: Principal,
    key: str | None,
    now: datetime,
) -> Signup | None:
    """The rush's common case as one self-committing statement, before anything else.

    Only when the unit of work has not started (nothing to be atomic with). The statement
    places a new signup of a published, open, first-come event that the caller's token
    makes them eligible for, unless a no-show penalty still delays the caller; anything
    else (a retry, an earlier cancelled signup, an
    Idempotency-Key used before, a closed or draw event, eligibility only by announced
    roles) writes nothing, either because no row matched or because a unique key refused
    the insert (the statement's counter updates are then undone with it). None then: the
    caller takes the full path, which answers every such case.
    """
    if session.in_transaction():
        return None
    eligible_for = token_eligibilities(principal)
    params = _params(session, event_id, principal.user_id, key, now, eligible_for)
    try:
        rows = await execute_alone(session, PLACE, params)
    except IntegrityError:
        return None
    return _placed(session, rows[0] if rows else None, params)


async def place(
    *,
    session: AsyncSession,
    event: Event,
    user_id: uuid.UUID,
    key: str | None,
    now: datetime,
) -> Signup | None:
    """Inside the unit of work (eligibility already checked): the new signup, or None when
    the event closed meanwhile. A duplicate raises ``IntegrityError``: the caller rolls the
    whole transaction back, counters included."""
    params = _params(session, event.id, user_id, key, now, [event.eligibility])
    row = (await session.execute(PLACE, params)).first()
    return _placed(session, dict(row._mapping) if row else None, params)


def _params(
    session: AsyncSession,
    event_id: uuid.UUID,
    user_id: uuid.UUID,
    key: str | None,
    now: datetime,
    eligible_for: list[str],
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
        "source": service_of(session),
    }


def _placed(
    session: AsyncSession, row: Mapping[str, Any] | None, params: dict[str, Any]
) -> Signup | None:
    if row is None:
        return None
    wake_relay_after_commit(session)
    now = params["now"]
    return Signup(
        id=params["signup_id"],
        event_id=params["event_id"],
        user_id=params["user_id"],
        status=SignupStatus(row["status"]),
        waitlist_position=row["waitlist_position"],
        fee_points=row["fee_points"],
        idempotency_key=params["key"],
        created_at=now,
        updated_at=now,
    )
