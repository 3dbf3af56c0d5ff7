"""The ledger core on PostgreSQL: credits, spends, reversals with debt, pending lots,
redeliveries counted once; the sums always add up."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from kit.db import Database
from kit.testing.services import scalar
from services.rewards.models import Dimension
from services.rewards.service import ledger
from services.rewards.service.ledger import NotEnoughPoints, Source
from services.rewards.tests.support import assert_ledger_adds_up

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


@pytest.fixture
async def session(database: Database) -> AsyncIterator[AsyncSession]:
    async with database.transaction() as session:
        yield session


def source(role: str = "author", reference: str | None = None) -> Source:
    return Source(
        type="content.post.published.v1",
        id=str(uuid.uuid4()),
        role=role,
        reference_type="post",
        reference_id=reference or str(uuid.uuid4()),
    )


async def test_a_redelivered_source_credits_once(database: Database) -> None:
    user, earned = uuid.uuid4(), source()
    for _ in range(2):
        async with database.transaction() as session:
            await ledger.credit_points(
                session=session, user_id=user, amount=10, source=earned, at=NOW
            )
            await ledger.credit_value(
                session=session,
                user_id=user,
                dimension=Dimension.INTERACTION,
                amount=3,
                source=earned,
                at=NOW,
            )
    assert await scalar(database, "SELECT points FROM accounts WHERE user_id = :u", u=user) == 10
    assert (
        await scalar(database, "SELECT value_interaction FROM accounts WHERE user_id = :u", u=user)
        == 3
    )
    await assert_ledger_adds_up(database, user)


async def test_a_reversal_after_spending_leaves_a_debt_repaid_from_new_earnings(
    database: Database,
) -> None:
    user, post = uuid.uuid4(), str(uuid.uuid4())
    async with database.transaction() as session:
        earned = await ledger.credit_points(
            session=session, user_id=user, amount=100, source=source(reference=post), at=NOW
        )
        await ledger.spend_points(
            session=session,
            user_id=user,
            amount=70,
            source=Source(type="mall.order", id=str(uuid.uuid4())),
            at=NOW,
        )
    assert earned is not None
    for _ in range(2):
        async with database.transaction() as session:
            for credit in await ledger.credits_for(
                session=session, reference_type="post", reference_id=post
            ):
                await ledger.reverse(
                    session=session,
                    entry=credit,
                    source=Source(type="content.post.removed.v1", id=str(uuid.uuid4())),
                    at=NOW,
                )
    assert await scalar(database, "SELECT points FROM accounts WHERE user_id = :u", u=user) == 0
    assert await scalar(database, "SELECT debt FROM accounts WHERE user_id = :u", u=user) == 70
    await assert_ledger_adds_up(database, user)

    async with database.transaction() as session:
        await ledger.credit_points(
            session=session, user_id=user, amount=50, source=source(), at=NOW
        )
        await ledger.credit_points(
            session=session, user_id=user, amount=50, source=source(), at=NOW
        )
    assert await scalar(database, "SELECT debt FROM accounts WHERE user_id = :u", u=user) == 0
    assert await scalar(database, "SELECT points FROM accounts WHERE user_id = :u", u=user) == 30
    await assert_ledger_adds_up(database, user)


async def test_spending_more_than_spendable_writes_nothing(database: Database) -> None:
    user = uuid.uuid4()
    async with database.transaction() as session:
        await ledger.credit_points(session=session, user_id=user, amount=5, source=source(), at=NOW)
        await ledger.credit_points(
            session=session,
            user_id=user,
            amount=50,
            source=source(),
            at=NOW,
            activates_at=NOW + timedelta(days=30),
        )
    with pytest.raises(NotEnoughPoints):
        async with database.transaction() as session:
            await ledger.spend_points(
                session=session,
                user_id=user,
                amount=6,
                source=Source(type="mall.order", id=str(uuid.uuid4())),
                at=NOW,
            )
    assert (
        await scalar(database, "SELECT count(*) FROM ledger_entries WHERE user_id = :u", u=user)
        == 2
    )
    await assert_ledger_adds_up(database, user)


async def test_pending_points_become_spendable_once_and_cancel_before(database: Database) -> None:
    user = uuid.uuid4()
    later = NOW + timedelta(days=30)
    async with database.transaction() as session:
        kept = await ledger.credit_points(
            session=session, user_id=user, amount=40, source=source(), at=NOW, activates_at=later
        )
        voided = await ledger.credit_points(
            session=session, user_id=user, amount=60, source=source(), at=NOW, activates_at=later
        )
        assert kept is not None
        assert voided is not None
        await ledger.reverse(
            session=session,
            entry=voided,
            source=Source(type="referrals.reward.voided.v1", id=str(uuid.uuid4())),
            at=NOW,
        )
    assert (
        await scalar(database, "SELECT pending_points FROM accounts WHERE user_id = :u", u=user)
        == 40
    )
    for _ in range(2):
        async with database.transaction() as session:
            await ledger.activate_due(session=session, now=later)
    assert await scalar(database, "SELECT points FROM accounts WHERE user_id = :u", u=user) == 40
    assert (
        await scalar(database, "SELECT pending_points FROM accounts WHERE user_id = :u", u=user)
        == 0
    )
    await assert_ledger_adds_up(database, user)
