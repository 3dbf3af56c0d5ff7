"""What a referral earns, on PostgreSQL, handlers called as the consumer calls them: the
lead and the test drive pay the referrer, the pending reward pays referrer and referee
held (no time releases it), the approval releases it, pays the approval's value and counts
the referrer once; a void takes it all back (cancelling what is held, as debt what was
spent) and uncounts the referrer once. Every event is delivered twice, once redelivered
and once announced anew under another CloudEvent id: each pays once per referral. The
seeded default rules (migrations 0002 and 0003) set the amounts."""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from contracts.catalog import Payload
from contracts.referrals import (
    LeadCreated,
    RefereeDriveDone,
    RewardApproved,
    RewardFlagged,
    RewardPending,
    RewardVoided,
)
from kit.bus.envelope import Envelope
from kit.db import Database
from kit.testing.services import rows, scalar
from services.rewards.consumers import SUBSCRIPTIONS
from services.rewards.service import ledger
from services.rewards.service.ledger import Source
from services.rewards.tests.support import assert_ledger_adds_up

LEAD_AT = datetime(2026, 5, 1, 10, tzinfo=UTC)
DRIVE_AT = LEAD_AT + timedelta(days=3)
DELIVERED_AT = LEAD_AT + timedelta(days=20)
APPROVED_AT = DELIVERED_AT + timedelta(days=30)
HANDLERS = {
    model.event_type: (model, handler)
    for subscription in SUBSCRIPTIONS
    for model, handler in subscription.handlers.items()
}
# the seeded rules: lead 50 points and 5 value, test drive 200 points, delivery 5000
# points (referrer) and 2000 (referee) held at pending, 500 value at approval
LEAD, LEAD_VALUE, DRIVE, DELIVERY, WELCOME, DELIVERY_VALUE = 50, 5, 200, 5000, 2000, 500


@dataclass(frozen=True)
class Referral:
    id: uuid.UUID
    referrer: uuid.UUID
    referee: uuid.UUID
    referee_has_account: bool = True

    def fields(self) -> dict[str, Any]:
        return {
            "referral_id": self.id,
            "referrer_id": self.referrer,
            "referee_user_id": self.referee if self.referee_has_account else None,
        }

    def lead(self) -> LeadCreated:
        return LeadCreated(**self.fields(), occurred_at=LEAD_AT, source="registration")

    def drive(self) -> RefereeDriveDone:
        return RefereeDriveDone(**self.fields(), occurred_at=DRIVE_AT)

    def pending(self) -> RewardPending:
        return RewardPending(**self.fields(), delivered_at=DELIVERED_AT, approves_at=APPROVED_AT)

    def approved(self) -> RewardApproved:
        return RewardApproved(**self.fields(), approved_at=APPROVED_AT)

    def voided(self, *, was_approved: bool) -> RewardVoided:
        return RewardVoided(
            **self.fields(),
            voided_at=APPROVED_AT + timedelta(days=1),
            reason="refunded",
            was_approved=was_approved,
        )


def new_referral(*, referee: bool = True) -> Referral:
    return Referral(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), referee_has_account=referee)


async def handle(database: Database, envelope: Envelope) -> None:
    model, handler = HANDLERS[envelope.type]
    async with database.transaction() as session:
        await handler(session, model.model_validate(envelope.data), envelope)


async def deliver(database: Database, payload: Payload) -> None:
    """Deliver ``payload`` twice (the same envelope again), then announce it anew (a new
    CloudEvent id, as a producer that published it twice would)."""
    for _ in range(2):
        envelope = Envelope(
            type=payload.event_type,
            source="referrals",
            subject=payload.subject(),
            data=payload.model_dump(mode="json"),
            time=LEAD_AT,
        )
        await handle(database, envelope)
        await handle(database, envelope)


async def wallet(database: Database, user_id: uuid.UUID) -> tuple[int, int, int, int]:
    """(points, pending points, debt, community value) of the member."""
    found = await rows(
        database,
        "SELECT points, pending_points, debt, value_interaction + value_development"
        " + value_efficiency + value_special FROM accounts WHERE user_id = :u",
        u=user_id,
    )
    return tuple(found[0]) if found else (0, 0, 0, 0)


async def referrals_rewarded(database: Database, user_id: uuid.UUID) -> tuple[int, int]:
    """(referral_year, referrals_rewarded) of the referrer."""
    found = await rows(
        database,
        "SELECT referral_year, referrals_rewarded FROM accounts WHERE user_id = :u",
        u=user_id,
    )
    return tuple(found[0])


async def up_to_pending(database: Database, referral: Referral) -> None:
    for payload in (referral.lead(), referral.drive(), referral.pending()):
        await deliver(database, payload)


def test_rewards_reads_both_referral_topics() -> None:
    topics = {s.name: set(s.handlers) for s in SUBSCRIPTIONS if s.name.startswith("referrals")}
    assert topics == {
        "referrals-funnel": {LeadCreated, RefereeDriveDone},
        "referrals-rewards": {RewardPending, RewardApproved, RewardVoided},
    }
    assert RewardFlagged not in topics["referrals-rewards"], "a flag credits nothing"


async def test_a_referral_credits_each_step_once_and_holds_the_delivery(
    database: Database,
) -> None:
    referral = new_referral()
    await deliver(database, referral.lead())
    assert await wallet(database, referral.referrer) == (LEAD, 0, 0, LEAD_VALUE)
    await deliver(database, referral.drive())
    assert await wallet(database, referral.referrer) == (LEAD + DRIVE, 0, 0, LEAD_VALUE)
    await deliver(database, referral.pending())
    assert await wallet(database, referral.referrer) == (LEAD + DRIVE, DELIVERY, 0, LEAD_VALUE)
    assert await wallet(database, referral.referee) == (0, WELCOME, 0, 0)

    await deliver(database, referral.approved())
    assert await wallet(database, referral.referrer) == (
        LEAD + DRIVE + DELIVERY,
        0,
        0,
        LEAD_VALUE + DELIVERY_VALUE,
    )
    assert await wallet(database, referral.referee) == (WELCOME, 0, 0, 0)
    assert await referrals_rewarded(database, referral.referrer) == (2026, 1)
    links = (
        "SELECT DISTINCT reference_type, reference_id, source_id FROM ledger_entries"
        " WHERE user_id = :u"
    )
    expected = [("referral", str(referral.id), str(referral.id))]
    for user in (referral.referrer, referral.referee):
        assert [tuple(row) for row in await rows(database, links, u=user)] == expected
        await assert_ledger_adds_up(database, user)


async def test_held_points_survive_the_activation_job(database: Database) -> None:
    referral = new_referral()
    await up_to_pending(database, referral)
    async with database.transaction() as session:
        await ledger.activate_due(session=session, now=datetime(2100, 1, 1, tzinfo=UTC))
    assert await wallet(database, referral.referrer) == (LEAD + DRIVE, DELIVERY, 0, LEAD_VALUE)
    assert await wallet(database, referral.referee) == (0, WELCOME, 0, 0)
    held = "SELECT state, activates_at FROM point_lots WHERE user_id = :u"
    assert [tuple(row) for row in await rows(database, held, u=referral.referee)] == [
        ("pending", None)
    ]
    await assert_ledger_adds_up(database, referral.referee)


async def test_a_referee_without_an_account_leaves_only_the_referrer_credited(
    database: Database,
) -> None:
    referral = new_referral(referee=False)
    await up_to_pending(database, referral)
    await deliver(database, referral.approved())
    assert await wallet(database, referral.referrer) == (
        LEAD + DRIVE + DELIVERY,
        0,
        0,
        LEAD_VALUE + DELIVERY_VALUE,
    )
    assert await wallet(database, referral.referee) == (0, 0, 0, 0)
    await assert_ledger_adds_up(database, referral.referrer)


async def test_a_void_before_approval_cancels_the_held_points_and_takes_back_the_rest(
    database: Database,
) -> None:
    referral = new_referral()
    await up_to_pending(database, referral)
    await deliver(database, referral.voided(was_approved=False))
    for user in (referral.referrer, referral.referee):
        assert await wallet(database, user) == (0, 0, 0, 0)
        await assert_ledger_adds_up(database, user)
    lots = "SELECT count(*) FROM point_lots WHERE user_id = :u AND state = 'cancelled'"
    assert await scalar(database, lots, u=referral.referee) == 1

    await deliver(database, referral.approved())  # nothing is owed for a voided referral
    for user in (referral.referrer, referral.referee):
        assert await wallet(database, user) == (0, 0, 0, 0)
    assert await referrals_rewarded(database, referral.referrer) == (0, 0)


async def test_a_void_after_approval_takes_back_with_debt_and_uncounts_once(
    database: Database,
) -> None:
    referral, other = new_referral(), new_referral()
    other = Referral(other.id, referral.referrer, other.referee)  # the same referrer
    for each in (referral, other):
        await up_to_pending(database, each)
        await deliver(database, each.approved())
    assert await referrals_rewarded(database, referral.referrer) == (2026, 2)
    async with database.transaction() as session:  # the referrer spends nearly everything
        await ledger.spend_points(
            session=session,
            user_id=referral.referrer,
            amount=2 * (LEAD + DRIVE + DELIVERY) - 100,
            source=Source("mall.order", str(uuid.uuid4())),
            at=APPROVED_AT,
        )

    await deliver(database, referral.voided(was_approved=True))
    owed = LEAD + DRIVE + DELIVERY - 100  # what the 100 left could not cover
    assert await wallet(database, referral.referrer) == (0, 0, owed, LEAD_VALUE + DELIVERY_VALUE)
    assert await wallet(database, referral.referee) == (0, 0, 0, 0)
    assert await referrals_rewarded(database, referral.referrer) == (2026, 1)
    for user in (referral.referrer, referral.referee, other.referee):
        await assert_ledger_adds_up(database, user)


async def test_a_voided_referral_earns_nothing_that_arrives_late(database: Database) -> None:
    referral = new_referral()
    await deliver(database, referral.voided(was_approved=False))
    await up_to_pending(database, referral)  # the funnel's topic lagged behind
    await deliver(database, referral.approved())
    for user in (referral.referrer, referral.referee):
        assert await wallet(database, user) == (0, 0, 0, 0)
    assert await referrals_rewarded(database, referral.referrer) == (0, 0)


async def test_an_approval_repays_debt_first(database: Database) -> None:
    referral = new_referral()
    async with database.transaction() as session:  # the referee owes 300 from a reversal
        credit = await ledger.credit_points(
            session=session,
            user_id=referral.referee,
            amount=300,
            source=Source("test.grant", str(uuid.uuid4())),
            at=LEAD_AT,
        )
        assert credit is not None
        await ledger.spend_points(
            session=session,
            user_id=referral.referee,
            amount=300,
            source=Source("mall.order", str(uuid.uuid4())),
            at=LEAD_AT,
        )
        await ledger.reverse(
            session=session, entry=credit, source=Source("test.revoke", "r"), at=LEAD_AT
        )
    assert await wallet(database, referral.referee) == (0, 0, 300, 0)
    await up_to_pending(database, referral)
    assert await wallet(database, referral.referee) == (0, WELCOME, 300, 0)
    await deliver(database, referral.approved())
    assert await wallet(database, referral.referee) == (WELCOME - 300, 0, 0, 0)
    await assert_ledger_adds_up(database, referral.referee)
