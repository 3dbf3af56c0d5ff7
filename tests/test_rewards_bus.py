"""Rewards on real Kafka: a mix of identity, content, events and referrals announcements
(one referral approved, one voided after its reward was held), published to their topics,
settles into balances through a rewards app with its consumers on; then a
second set of consumers in FRESH consumer groups (every offset from zero, new dedupe
claims) replays every topic into the same database and no balance or ledger entry changes:
what rewards writes is keyed by its sources, not only by the consumers' claims.

The rewards app's service name is unique to the test, so its consumer groups are its own on
the session's shared broker (which also holds other tests' events: rewards reads them too).
"""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI

from contracts.catalog import Payload
from contracts.content import (
    CommentCreated,
    PostFeatured,
    PostLiked,
    PostPublished,
    PostRemoved,
    ReportUpheld,
)
from contracts.events import (
    AttendanceCheckedIn,
    EventCompleted,
    SignupCancelled,
    SignupConfirmed,
)
from contracts.identity import UserRegistered, VehicleVerified
from contracts.referrals import (
    REFERRALS_FUNNEL,
    REFERRALS_REWARDS,
    LeadCreated,
    RefereeDriveDone,
    RewardApproved,
    RewardPending,
    RewardVoided,
)
from kit.bus.consumer import EventConsumer
from kit.bus.envelope import Envelope
from kit.bus.kafka import KafkaConnection, idempotent_producer, stop_within
from kit.db import Database
from kit.testing.kafka import create_topics
from kit.testing.plugin import MigratedDatabaseFactory
from kit.testing.services import rows, running, scalar
from kit.testing.tokens import TokenMinter
from kit.testing.waiting import eventually
from services.rewards.app import create_app
from services.rewards.config import RewardsSettings
from services.rewards.consumers import SUBSCRIPTIONS
from services.rewards.service import ledger
from services.rewards.service.ledger import Source
from services.rewards.tests.support import assert_ledger_adds_up

AT = datetime(2026, 6, 1, 12, tzinfo=UTC)
SETTLE_SECONDS = 90


@pytest.fixture
async def rewards_database(migrated_database_factory: MigratedDatabaseFactory) -> str:
    return await migrated_database_factory("rewards")


@pytest.fixture
async def rewards(
    rewards_database: str, kafka_bootstrap: str, minter: TokenMinter
) -> AsyncIterator[FastAPI]:
    # topics no other test writes yet: made before the consumers subscribe, not on the
    # first record (a consumer of a topic that appears later misses its first records)
    await create_topics(
        kafka_bootstrap, [REFERRALS_FUNNEL.name, REFERRALS_REWARDS.name], partitions=3
    )
    settings = RewardsSettings(
        service_name=f"rewards-{uuid.uuid4().hex[:8]}",
        database_url=rewards_database,
        kafka_bootstrap_servers=kafka_bootstrap,
        bus_enabled=True,
    )
    async with running(create_app(settings, token_verifier=minter.verifier())) as app:
        yield app


def referrals(users: dict[str, uuid.UUID]) -> list[Payload]:
    """``referrer`` brings ``referee`` to a delivery, approved, and ``voided`` to a
    delivery whose order is refunded inside the window."""
    approved, voided = uuid.uuid4(), uuid.uuid4()

    def who(referral: uuid.UUID, referee: str) -> dict[str, Any]:
        return {
            "referral_id": referral,
            "referrer_id": users["referrer"],
            "referee_user_id": users[referee],
        }

    def pending(referral: uuid.UUID, referee: str) -> RewardPending:
        return RewardPending(**who(referral, referee), delivered_at=AT, approves_at=AT)

    return [
        LeadCreated(**who(approved, "referee"), occurred_at=AT, source="registration"),
        RefereeDriveDone(**who(approved, "referee"), occurred_at=AT),
        LeadCreated(**who(voided, "voided"), occurred_at=AT, source="share_form"),
        pending(approved, "referee"),
        pending(voided, "voided"),
        RewardApproved(**who(approved, "referee"), approved_at=AT),
        RewardVoided(**who(voided, "voided"), voided_at=AT, reason="refund", was_approved=False),
    ]


def announcements(users: dict[str, uuid.UUID]) -> list[Payload]:
    """Who earns what, in each topic's order; ``fan`` pays a seat's fee and gets it back."""
    author, fan, reporter = users["author"], users["fan"], users["reporter"]
    kept, removed, event = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    signup = uuid.uuid4()

    def post(post_id: uuid.UUID) -> PostPublished:
        return PostPublished(
            post_id=post_id,
            author_id=author,
            official=False,
            circle_id=None,
            city=None,
            tags=[],
            image_count=0,
            published_at=AT,
        )

    return [
        UserRegistered(user_id=author, display_name="Lena", registered_at=AT),
        VehicleVerified(user_id=author, vehicle_id=uuid.uuid4(), vin_last4="0042", verified_by="x"),
        post(kept),
        post(removed),
        PostLiked(post_id=kept, author_id=author, user_id=fan, like_count=1),
        PostLiked(post_id=kept, author_id=author, user_id=fan, like_count=1),
        PostLiked(post_id=removed, author_id=author, user_id=fan, like_count=1),
        PostFeatured(post_id=removed, author_id=author, featured_by=reporter),
        PostRemoved(post_id=removed, author_id=author, reason="moderation", removed_by=reporter),
        CommentCreated(
            comment_id=uuid.uuid4(),
            post_id=kept,
            author_id=fan,
            parent_id=None,
            post_author_id=author,
        ),
        ReportUpheld(
            report_id=uuid.uuid4(),
            target_kind="post",
            target_id=removed,
            reporter_id=reporter,
            author_id=author,
            resolved_by=reporter,
        ),
        SignupConfirmed(
            signup_id=signup, event_id=event, user_id=fan, fee_points=40, via="first_come"
        ),
        AttendanceCheckedIn(
            signup_id=uuid.uuid4(),
            event_id=event,
            user_id=reporter,
            organizer_id=author,
            checked_in_by=author,
            checked_in_at=AT,
        ),
        SignupCancelled(
            signup_id=signup,
            event_id=event,
            user_id=fan,
            previous_status="confirmed",
            refund_due=40,
            reason="user",
        ),
        EventCompleted(
            event_id=uuid.uuid4(),
            organizer_id=author,
            attendee_count=3,
            confirmed_count=3,
            completed_at=AT,
        ),
        *referrals(users),
    ]


async def publish_all(bootstrap: str, payloads: list[Payload]) -> list[str]:
    producer = idempotent_producer(KafkaConnection(bootstrap), client_id="test-announcer")
    await producer.start()
    try:
        ids = []
        for payload in payloads:
            envelope = Envelope(
                type=payload.event_type,
                source="test",
                subject=payload.subject(),
                data=payload.model_dump(mode="json"),
                time=AT,
            )
            key, value, headers = envelope.to_record()
            await producer.send_and_wait(payload.topic.name, value, key=key, headers=headers)
            ids.append(envelope.id)
        return ids
    finally:
        await stop_within(producer)


async def state(database: Database, users: dict[str, uuid.UUID]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, user in users.items():
        account = await rows(
            database,
            "SELECT points, pending_points, debt, value_interaction, value_development,"
            " value_efficiency, value_special FROM accounts WHERE user_id = :u",
            u=user,
        )
        entries = "SELECT count(*) FROM ledger_entries WHERE user_id = :u"
        found[name] = (
            tuple(account[0]) if account else None,
            await scalar(database, entries, u=user),
        )
    return found


async def claimed(database: Database, consumers: str, ids: list[str]) -> int:
    sql = "SELECT count(*) FROM processed_events WHERE consumer LIKE :c AND event_id = ANY(:ids)"
    return int(await scalar(database, sql, c=consumers, ids=ids))


async def test_a_replay_from_offset_zero_changes_no_balance(
    rewards: FastAPI, kafka_bootstrap: str
) -> None:
    database: Database = rewards.state.database
    names = ("author", "fan", "reporter", "referrer", "referee", "voided")
    users = {name: uuid.uuid4() for name in names}
    async with database.transaction() as session:  # the fan's points for the seat's fee
        await ledger.credit_points(
            session=session,
            user_id=users["fan"],
            amount=45,
            source=Source("test.grant", str(uuid.uuid4())),
            at=AT,
        )
    ids = await publish_all(kafka_bootstrap, announcements(users))
    expected = {  # (points, pending, debt, interaction, development, efficiency, special)
        # welcome 100, owner 500, the kept post 10 and its like 1 (liked twice by one fan),
        # organised 200; the removed post's 10, like 1 and featuring 100 were taken back
        "author": (100 + 500 + 10 + 1 + 200, 0, 0, 10 + 2 + 1, 50 + 30, 0, 0),
        "fan": (45 + 2, 0, 0, 1, 0, 0, 0),  # the seat's 40 charged and refunded
        "reporter": (20 + 30, 0, 0, 5, 0, 5, 0),
        # lead 50, test drive 200, delivery 5000 (held, then released) and the delivery's
        # value 500; the voided referral's lead (50, value 5) taken back, its 5000 cancelled
        "referrer": (50 + 200 + 5000, 0, 0, 0, 5 + 500, 0, 0),
        "referee": (2000, 0, 0, 0, 0, 0, 0),
        "voided": (0, 0, 0, 0, 0, 0, 0),  # the welcome held, then cancelled
    }

    async def settled() -> bool:
        found = await state(database, users)
        balances = {name: found[name][0] for name in users}
        return balances == expected and await _all_claimed(database, "%", ids)

    await eventually(settled, timeout=SETTLE_SECONDS, message="the balances never settled")
    before = await state(database, users)
    charge = "SELECT status FROM signup_charges WHERE user_id = :u"
    assert await scalar(database, charge, u=users["fan"]) == "refunded"

    service = f"replay-{uuid.uuid4().hex[:8]}"
    replays = [
        EventConsumer(
            name=f"{service}-{subscription.name}",
            service=service,
            database=database,
            kafka=KafkaConnection(kafka_bootstrap),
            handlers=subscription.handlers,
        )
        for subscription in SUBSCRIPTIONS
    ]
    for consumer in replays:
        await consumer.start()
    try:
        await eventually(
            lambda: _all_claimed(database, f"{service}-%", ids),
            timeout=SETTLE_SECONDS,
            message="the replay never reached every event",
        )
    finally:
        for consumer in replays:
            await consumer.stop()
    assert await state(database, users) == before
    for user in users.values():
        await assert_ledger_adds_up(database, user)
    board = "SELECT referral_year, referrals_rewarded FROM accounts WHERE user_id = :u"
    assert tuple((await rows(database, board, u=users["referrer"]))[0]) == (AT.year, 1)


async def _all_claimed(database: Database, consumers: str, ids: list[str]) -> bool:
    """Every one of ``ids`` was claimed by each subscription (names like ``consumers``) that
    reads it: one claim per event."""
    return await claimed(database, consumers, ids) >= len(ids)
