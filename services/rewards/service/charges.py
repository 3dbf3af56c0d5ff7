"""Charges other services ask for: the fee of a paid seat (events) and the points of a
weighted poll vote (content), each charged at most once and answered on
``rewards.charges``; a paid seat's fee is refunded at most once.

A charge's row is claimed first (its primary key is the confirming event's id for a seat,
the ballot's id for a vote), so a
redelivered or replayed request finds it and does nothing; the spend and the row's status
commit together with the claim. ``refused`` means the member's spendable points were
short: nothing was spent, and the asking service undoes what it did (events releases the
seat to the next in line, ADR 0007; content does not count the vote).
"""

import uuid
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from contracts.rewards import PollChargeSettled, SignupChargeSettled
from kit.bus.outbox import publish
from kit.db import dialect_insert
from services.rewards.models import ChargeStatus, EntryKind, PollCharge, SignupCharge
from services.rewards.service import ledger
from services.rewards.service.ledger import NotEnoughPoints, Source

SIGNUP_SOURCE = "events.signup"
SIGNUP_REFUND_SOURCE = "events.signup.refund"
POLL_SOURCE = "content.poll.vote"


async def _spend(
    session: AsyncSession, user_id: uuid.UUID, points: int, source: Source, at: datetime
) -> bool:
    try:
        await ledger.spend_points(
            session=session, user_id=user_id, amount=points, source=source, at=at
        )
    except NotEnoughPoints:
        return False
    return True


async def charge_signup(
    *,
    session: AsyncSession,
    charge_id: str,
    signup_id: uuid.UUID,
    event_id: uuid.UUID,
    user_id: uuid.UUID,
    points: int,
    at: datetime,
) -> SignupCharge | None:
    """Charge a paid seat's fee for one confirmation (``charge_id``: the confirming event's
    id) and announce the outcome; ``None`` when that confirmation was settled before."""
    claimed = await session.scalar(
        dialect_insert(session, SignupCharge)
        .values(
            charge_id=charge_id,
            signup_id=signup_id,
            event_id=event_id,
            user_id=user_id,
            points=points,
            status=ChargeStatus.REFUSED,
            created_at=at,
            updated_at=at,
        )
        .on_conflict_do_nothing()
        .returning(col(SignupCharge.charge_id))
    )
    if claimed is None:
        return None
    source = Source(SIGNUP_SOURCE, charge_id, reference_type="event", reference_id=str(event_id))
    charged = await _spend(session, user_id, points, source, at)
    charge = await session.get(SignupCharge, charge_id, populate_existing=True)
    assert charge is not None
    if charged:
        charge.status = ChargeStatus.CHARGED
    publish(
        session,
        SignupChargeSettled(
            event_id=event_id,
            signup_id=signup_id,
            user_id=user_id,
            points=points,
            charged=charged,
            reason=None if charged else NotEnoughPoints.code,
        ),
        actor=None,
    )
    await session.flush()
    return charge


async def refund_signup(*, session: AsyncSession, signup_id: uuid.UUID, at: datetime) -> bool:
    """Give a charged seat's fee back, once; ``False`` when it was never charged or was
    refunded already."""
    refunded = (
        await session.execute(
            update(SignupCharge)
            .where(
                col(SignupCharge.signup_id) == signup_id,
                col(SignupCharge.status) == ChargeStatus.CHARGED,
            )
            .values(status=ChargeStatus.REFUNDED, updated_at=at)
            .returning(
                col(SignupCharge.charge_id),
                col(SignupCharge.user_id),
                col(SignupCharge.points),
                col(SignupCharge.event_id),
            )
            .execution_options(synchronize_session=False)
        )
    ).one_or_none()
    if refunded is None:
        return False
    charge_id, user_id, points, event_id = refunded
    await ledger.credit_points(
        session=session,
        user_id=user_id,
        amount=points,
        source=Source(
            SIGNUP_REFUND_SOURCE, charge_id, reference_type="event", reference_id=str(event_id)
        ),
        at=at,
        kind=EntryKind.REFUND,
    )
    return True


async def charge_vote(
    *,
    session: AsyncSession,
    ballot_id: uuid.UUID,
    poll_id: uuid.UUID,
    user_id: uuid.UUID,
    points: int,
    at: datetime,
) -> PollCharge | None:
    """Charge a weighted vote's points and announce the outcome; ``None`` when settled before."""
    claimed = await session.scalar(
        dialect_insert(session, PollCharge)
        .values(
            ballot_id=ballot_id,
            poll_id=poll_id,
            user_id=user_id,
            points=points,
            status=ChargeStatus.REFUSED,
            created_at=at,
        )
        .on_conflict_do_nothing()
        .returning(col(PollCharge.ballot_id))
    )
    if claimed is None:
        return None
    source = Source(POLL_SOURCE, str(ballot_id), reference_type="poll", reference_id=str(poll_id))
    charged = await _spend(session, user_id, points, source, at)
    charge = await session.get(PollCharge, ballot_id, populate_existing=True)
    assert charge is not None
    if charged:
        charge.status = ChargeStatus.CHARGED
    publish(
        session,
        PollChargeSettled(
            poll_id=poll_id,
            ballot_id=ballot_id,
            user_id=user_id,
            charged=charged,
            reason=None if charged else NotEnoughPoints.code,
        ),
        actor=None,
    )
    await session.flush()
    return charge
