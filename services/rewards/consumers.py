"""What rewards does with the other services' announcements (``SUBSCRIPTIONS``, wired by
the app): every contribution is credited by the earning rules, every reversal takes back
what its source earned, and paid seats and weighted votes are charged.

* identity: a registration opens the account (with the member's name) and earns; profile
  updates keep the name and city (leaderboards show them); a verified vehicle earns; a
  deleted account is marked deleted and loses its name and city, its ledger stays.
* content and events: contributions earn by :data:`.service.earning.EARNINGS`; a removed
  post or comment takes back what it earned. An unlike takes nothing back (a like pays
  its author once per liker, see :mod:`.service.earning`).
* paid seats and weighted votes: charged on ``signup.confirmed``/``signup.promoted`` and
  ``poll.vote_charge_requested``, refunded on ``signup.cancelled`` and ``event.cancelled``
  (:mod:`.service.charges`).
* referrals: a lead and a test drive credit the referrer; a pending reward credits the
  referrer and the referee, held; an approval releases the held points, pays the
  approval's rules and counts the referrer on the referrers' board once; a void takes
  back all that the referral earned (debt where spent), uncounts the referrer once and
  leaves the referral earning nothing more (:mod:`.service.leaderboards`). A flagged
  reward changes nothing here (the referral waits for staff, whose decision arrives as
  approved or voided), so it is not read.

Each handler runs inside the consumer's transaction, together with its dedupe claim; what
it writes is also keyed by its source, so a replay from offset zero changes nothing.
"""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.content import (
    CommentCreated,
    CommentRemoved,
    PollVoteChargeRequested,
    PostFeatured,
    PostLiked,
    PostPublished,
    PostRemoved,
    ReportUpheld,
)
from contracts.events import (
    AttendanceCheckedIn,
    EventCancelled,
    EventCompleted,
    SignupCancelled,
    SignupConfirmed,
    SignupPromoted,
)
from contracts.identity import UserDeleted, UserRegistered, UserUpdated, VehicleVerified
from contracts.referrals import (
    FunnelStep,
    LeadCreated,
    RefereeDriveDone,
    RewardApproved,
    RewardPending,
    RewardVoided,
)
from kit.bus.consumer import Handler
from kit.bus.envelope import Envelope
from kit.service import Subscription
from services.rewards.service import charges, earning, leaderboards, ledger
from services.rewards.service.earning import REFERRAL


async def on_contribution(session: AsyncSession, payload: Any, envelope: Envelope) -> None:
    await earning.credit(session=session, payload=payload, envelope=envelope)


async def on_removal(session: AsyncSession, payload: Any, envelope: Envelope) -> None:
    await earning.take_back(session=session, payload=payload, envelope=envelope)


async def on_registered(session: AsyncSession, payload: UserRegistered, envelope: Envelope) -> None:
    account = await ledger.lock_account(session=session, user_id=payload.user_id)
    account.display_name = payload.display_name
    await earning.credit(session=session, payload=payload, envelope=envelope)


async def on_updated(session: AsyncSession, payload: UserUpdated, envelope: Envelope) -> None:
    account = await ledger.lock_account(session=session, user_id=payload.user_id)
    if account.deleted_at is None:
        account.display_name, account.city = payload.display_name, payload.city
        account.updated_at = envelope.time


async def on_deleted(session: AsyncSession, payload: UserDeleted, _: Envelope) -> None:
    account = await ledger.lock_account(session=session, user_id=payload.user_id)
    account.display_name, account.city = None, None
    account.deleted_at = account.deleted_at or payload.deleted_at
    account.updated_at = payload.deleted_at


async def on_seat(
    session: AsyncSession, payload: SignupConfirmed | SignupPromoted, envelope: Envelope
) -> None:
    if payload.fee_points > 0:
        await charges.charge_signup(
            session=session,
            charge_id=envelope.id,
            signup_id=payload.signup_id,
            event_id=payload.event_id,
            user_id=payload.user_id,
            points=payload.fee_points,
            at=envelope.time,
        )


async def on_signup_cancelled(
    session: AsyncSession, payload: SignupCancelled, envelope: Envelope
) -> None:
    if payload.refund_due > 0:
        await charges.refund_signup(session=session, signup_id=payload.signup_id, at=envelope.time)


async def on_event_cancelled(
    session: AsyncSession, payload: EventCancelled, envelope: Envelope
) -> None:
    for refund in payload.refunds:
        await charges.refund_signup(session=session, signup_id=refund.signup_id, at=envelope.time)


async def on_vote_charge(
    session: AsyncSession, payload: PollVoteChargeRequested, envelope: Envelope
) -> None:
    if payload.points > 0:
        await charges.charge_vote(
            session=session,
            ballot_id=payload.ballot_id,
            poll_id=payload.poll_id,
            user_id=payload.user_id,
            points=payload.points,
            at=envelope.time,
        )


async def on_referral_earned(
    session: AsyncSession, payload: FunnelStep | RewardPending, envelope: Envelope
) -> None:
    if not await leaderboards.is_voided(session=session, referral_id=payload.referral_id):
        await earning.credit(session=session, payload=payload, envelope=envelope)


async def on_reward_approved(
    session: AsyncSession, payload: RewardApproved, envelope: Envelope
) -> None:
    if await leaderboards.is_voided(session=session, referral_id=payload.referral_id):
        return
    await ledger.release_held(
        session=session,
        reference_type=REFERRAL,
        reference_id=str(payload.referral_id),
        at=payload.approved_at,
    )
    await earning.credit(session=session, payload=payload, envelope=envelope)
    await leaderboards.count_referral(
        session=session,
        referral_id=payload.referral_id,
        referrer_id=payload.referrer_id,
        at=payload.approved_at,
    )


async def on_reward_voided(
    session: AsyncSession, payload: RewardVoided, envelope: Envelope
) -> None:
    await earning.take_back(session=session, payload=payload, envelope=envelope)
    await leaderboards.void_referral(
        session=session,
        referral_id=payload.referral_id,
        referrer_id=payload.referrer_id,
        at=payload.voided_at,
    )


def _by_topic(handlers: dict[type[Any], Handler]) -> dict[str, dict[type[Any], Handler]]:
    grouped: dict[str, dict[type[Any], Handler]] = {}
    for model, handler in handlers.items():
        grouped.setdefault(model.topic.name, {})[model] = handler
    return grouped


HANDLERS: dict[type[Any], Handler] = {
    UserRegistered: on_registered,
    UserUpdated: on_updated,
    VehicleVerified: on_contribution,
    UserDeleted: on_deleted,
    PostPublished: on_contribution,
    PostLiked: on_contribution,
    PostFeatured: on_contribution,
    PostRemoved: on_removal,
    CommentCreated: on_contribution,
    CommentRemoved: on_removal,
    ReportUpheld: on_contribution,
    PollVoteChargeRequested: on_vote_charge,
    EventCompleted: on_contribution,
    EventCancelled: on_event_cancelled,
    AttendanceCheckedIn: on_contribution,
    SignupConfirmed: on_seat,
    SignupPromoted: on_seat,
    SignupCancelled: on_signup_cancelled,
    LeadCreated: on_referral_earned,
    RefereeDriveDone: on_referral_earned,
    RewardPending: on_referral_earned,
    RewardApproved: on_reward_approved,
    RewardVoided: on_reward_voided,
}
"""Every event type rewards reads, and what it does with it."""

SUBSCRIPTIONS: tuple[Subscription, ...] = tuple(
    Subscription(name=topic.replace(".", "-"), handlers=handlers)
    for topic, handlers in sorted(_by_topic(HANDLERS).items())
)
"""One consumer per source topic (``identity-users``, ``content-posts`` ...): a slow or
failing topic holds up only its own."""
