"""Paid seats and weighted votes on PostgreSQL, through rewards' consumers: a fee charged
once (redelivered or replayed), refused when the spendable points are short (nothing
spent), refunded once and only when charged; each outcome announced on rewards.charges."""

import uuid
from datetime import UTC, datetime

from contracts.catalog import Payload
from contracts.content import PollVoteChargeRequested
from contracts.events import (
    EventCancelled,
    Refund,
    SignupCancelled,
    SignupConfirmed,
    SignupPromoted,
)
from kit.bus.envelope import Envelope
from kit.db import Database
from kit.testing.services import outbox_events, scalar
from services.rewards.consumers import SUBSCRIPTIONS
from services.rewards.service import ledger
from services.rewards.service.ledger import Source
from services.rewards.tests.support import assert_ledger_adds_up

AT = datetime(2026, 6, 1, 12, tzinfo=UTC)
SETTLED = "rewards.signup_charge.settled.v1"
HANDLERS = {
    model.event_type: (model, handler)
    for subscription in SUBSCRIPTIONS
    for model, handler in subscription.handlers.items()
}


async def deliver(database: Database, payload: Payload | Envelope) -> Envelope:
    envelope = (
        payload
        if isinstance(payload, Envelope)
        else Envelope(
            type=payload.event_type,
            source="test",
            subject=payload.subject(),
            data=payload.model_dump(mode="json"),
            time=AT,
        )
    )
    model, handler = HANDLERS[envelope.type]
    async with database.transaction() as session:
        await handler(session, model.model_validate(envelope.data), envelope)
    return envelope


async def give(database: Database, user_id: uuid.UUID, points: int) -> None:
    async with database.transaction() as session:
        await ledger.credit_points(
            session=session,
            user_id=user_id,
            amount=points,
            source=Source("test.grant", str(uuid.uuid4())),
            at=AT,
        )


async def points(database: Database, user_id: uuid.UUID) -> int:
    return int(await scalar(database, "SELECT points FROM accounts WHERE user_id = :u", u=user_id))


async def status(database: Database, signup_id: uuid.UUID) -> str | None:
    sql = "SELECT status FROM signup_charges WHERE signup_id = :s"
    found: str | None = await scalar(database, sql, s=signup_id)
    return found


def confirmed(event_id: uuid.UUID, user_id: uuid.UUID, fee: int = 50) -> SignupConfirmed:
    return SignupConfirmed(
        signup_id=uuid.uuid4(),
        event_id=event_id,
        user_id=user_id,
        fee_points=fee,
        via="first_come",
    )


def cancelled(seat: SignupConfirmed, refund_due: int) -> SignupCancelled:
    return SignupCancelled(
        signup_id=seat.signup_id,
        event_id=seat.event_id,
        user_id=seat.user_id,
        previous_status="confirmed",
        refund_due=refund_due,
        reason="user",
    )


async def test_a_paid_seat_is_charged_once_and_refunded_once(database: Database) -> None:
    user, event = uuid.uuid4(), uuid.uuid4()
    await give(database, user, 80)
    seat = confirmed(event, user)
    envelope = await deliver(database, seat)
    await deliver(database, envelope)
    assert await points(database, user) == 30
    assert await status(database, seat.signup_id) == "charged"
    settled = await outbox_events(database, subject=event, event_type=SETTLED)
    assert [event.data for event in settled] == [
        {
            "event_id": str(event),
            "signup_id": str(seat.signup_id),
            "user_id": str(user),
            "points": 50,
            "charged": True,
            "reason": None,
        }
    ]

    cancel = await deliver(database, cancelled(seat, 50))
    await deliver(database, cancel)
    refunds = [Refund(signup_id=seat.signup_id, user_id=user, fee_points=50)]
    await deliver(
        database,
        EventCancelled(
            event_id=event,
            organizer_id=uuid.uuid4(),
            cancelled_by=uuid.uuid4(),
            reason="rain",
            released_signups=1,
            refunds=refunds,
        ),
    )
    assert await points(database, user) == 80
    assert await status(database, seat.signup_id) == "refunded"
    await deliver(database, envelope)  # a replayed confirmation charges nothing again
    assert await points(database, user) == 80
    kinds = "SELECT string_agg(kind, ',' ORDER BY kind) FROM ledger_entries WHERE user_id = :u"
    assert await scalar(database, kinds, u=user) == "earn,refund,spend"
    await assert_ledger_adds_up(database, user)


async def test_a_member_short_of_points_is_refused_and_never_refunded(database: Database) -> None:
    user, event = uuid.uuid4(), uuid.uuid4()
    await give(database, user, 10)
    seat = confirmed(event, user)
    await deliver(database, seat)
    assert await points(database, user) == 10
    assert await status(database, seat.signup_id) == "refused"
    settled = await outbox_events(database, subject=event, event_type=SETTLED)
    assert [(e.data["charged"], e.data["reason"]) for e in settled] == [
        (False, "not-enough-points")
    ]
    await deliver(database, cancelled(seat, 50))
    assert await points(database, user) == 10
    assert await status(database, seat.signup_id) == "refused"
    await assert_ledger_adds_up(database, user)


async def test_a_promoted_seat_is_charged_and_a_free_one_is_not(database: Database) -> None:
    user, event = uuid.uuid4(), uuid.uuid4()
    await give(database, user, 100)
    promoted = SignupPromoted(
        signup_id=uuid.uuid4(), event_id=event, user_id=user, fee_points=40, from_position=1
    )
    await deliver(database, promoted)
    free = confirmed(event, user, fee=0)
    await deliver(database, free)
    assert await points(database, user) == 60
    assert await status(database, promoted.signup_id) == "charged"
    assert await status(database, free.signup_id) is None
    assert len(await outbox_events(database, subject=event, event_type=SETTLED)) == 1


async def test_a_weighted_vote_is_charged_once_or_refused(database: Database) -> None:
    rich, poor, poll = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await give(database, rich, 30)
    votes = [
        PollVoteChargeRequested(
            poll_id=poll, ballot_id=uuid.uuid4(), user_id=user, weight=3, points=30
        )
        for user in (rich, poor)
    ]
    for vote in votes:
        envelope = await deliver(database, vote)
        await deliver(database, envelope)
    assert await points(database, rich) == 0
    statuses = "SELECT status FROM poll_charges WHERE ballot_id = :b"
    assert [await scalar(database, statuses, b=vote.ballot_id) for vote in votes] == [
        "charged",
        "refused",
    ]
    settled = await outbox_events(
        database, subject=poll, event_type="rewards.poll_charge.settled.v1"
    )
    assert [(e.data["ballot_id"], e.data["charged"]) for e in settled] == [
        (str(votes[0].ballot_id), True),
        (str(votes[1].ballot_id), False),
    ]
    await assert_ledger_adds_up(database, rich)


async def test_a_seat_taken_again_after_a_refused_charge_is_charged_again(
    database: Database,
) -> None:
    event_id, user = uuid.uuid4(), uuid.uuid4()
    first = confirmed(event_id, user)
    await deliver(database, first)
    assert await status(database, first.signup_id) == "refused"

    await give(database, user, 80)
    again = await deliver(database, first)
    await deliver(database, again)
    assert await points(database, user) == 30, "the new confirmation is charged, once"
    statuses = await scalar(
        database,
        "SELECT string_agg(status, ',' ORDER BY created_at, status) FROM signup_charges"
        " WHERE signup_id = :s",
        s=first.signup_id,
    )
    assert sorted(statuses.split(",")) == ["charged", "refused"]
    await assert_ledger_adds_up(database, user)
