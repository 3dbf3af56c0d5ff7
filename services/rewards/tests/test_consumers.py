"""Rewards' consumers on PostgreSQL, handlers called as the consumer calls them (inside one
transaction, with CloudEvent envelopes): what each announcement credits, what a removal
takes back (exactly what the post or comment earned), likes paid once per liker, and
redeliveries that change nothing. The seeded default rules set the amounts."""

import uuid
from datetime import UTC, datetime
from typing import Any

from contracts.catalog import Payload
from contracts.content import (
    CommentCreated,
    CommentRemoved,
    PostFeatured,
    PostLiked,
    PostPublished,
    PostRemoved,
    PostUnliked,
    ReportUpheld,
)
from contracts.events import AttendanceCheckedIn, EventCompleted
from contracts.identity import UserDeleted, UserRegistered, UserUpdated, VehicleVerified
from kit.bus.envelope import Envelope
from kit.db import Database
from kit.testing.services import rows, scalar
from services.rewards.consumers import SUBSCRIPTIONS
from services.rewards.tests.support import assert_ledger_adds_up

AT = datetime(2026, 6, 1, 12, tzinfo=UTC)
HANDLERS = {
    model.event_type: (model, handler)
    for subscription in SUBSCRIPTIONS
    for model, handler in subscription.handlers.items()
}


def envelope_of(payload: Payload) -> Envelope:
    return Envelope(
        type=payload.event_type,
        source="test",
        subject=payload.subject(),
        data=payload.model_dump(mode="json"),
        time=AT,
    )


async def deliver(database: Database, payload: Payload | Envelope) -> Envelope:
    """Hand ``payload`` (or a given envelope, to redeliver it) to its handler."""
    envelope = payload if isinstance(payload, Envelope) else envelope_of(payload)
    model, handler = HANDLERS[envelope.type]
    async with database.transaction() as session:
        await handler(session, model.model_validate(envelope.data), envelope)
    return envelope


async def balances(database: Database, user_id: uuid.UUID) -> dict[str, Any]:
    found = await rows(
        database,
        "SELECT points, pending_points, debt, value_interaction, value_development,"
        " value_efficiency, value_special FROM accounts WHERE user_id = :u",
        u=user_id,
    )
    return dict(found[0]._mapping) if found else {}


def points_and_value(found: dict[str, Any]) -> tuple[int, int]:
    value = sum(
        found[f"value_{d}"] for d in ("interaction", "development", "efficiency", "special")
    )
    return found["points"], value


def published(post_id: uuid.UUID, author: uuid.UUID) -> PostPublished:
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


def liked(post_id: uuid.UUID, author: uuid.UUID, liker: uuid.UUID) -> PostLiked:
    return PostLiked(post_id=post_id, author_id=author, user_id=liker, like_count=1)


def test_one_subscription_per_source_topic() -> None:
    assert sorted(subscription.name for subscription in SUBSCRIPTIONS) == [
        "content-comments",
        "content-moderation",
        "content-polls",
        "content-posts",
        "events-events",
        "events-signups",
        "identity-users",
        "referrals-funnel",
        "referrals-rewards",
    ]


async def test_a_member_registers_updates_verifies_a_vehicle_and_is_deleted(
    database: Database,
) -> None:
    user = uuid.uuid4()
    await deliver(database, UserRegistered(user_id=user, display_name="Lena", registered_at=AT))
    assert points_and_value(await balances(database, user)) == (100, 10)
    await deliver(database, UserUpdated(user_id=user, display_name="Lena K", city="Munich"))
    account = "SELECT display_name, city, deleted_at FROM accounts WHERE user_id = :u"
    assert tuple((await rows(database, account, u=user))[0]) == ("Lena K", "Munich", None)
    vehicle = VehicleVerified(
        user_id=user, vehicle_id=uuid.uuid4(), vin_last4="1234", verified_by="staff"
    )
    await deliver(database, vehicle)
    assert points_and_value(await balances(database, user)) == (600, 60)

    await deliver(database, UserDeleted(user_id=user, deleted_at=AT))
    assert tuple((await rows(database, account, u=user))[0]) == (None, None, AT)
    assert points_and_value(await balances(database, user)) == (600, 60)
    entries = "SELECT count(*) FROM ledger_entries WHERE user_id = :u"
    assert await scalar(database, entries, u=user) == 4
    await deliver(database, UserUpdated(user_id=user, display_name="Ghost", city=None))
    assert tuple((await rows(database, account, u=user))[0]) == (None, None, AT)
    await assert_ledger_adds_up(database, user)


async def test_a_removed_post_takes_back_its_publication_likes_and_featuring_only(
    database: Database,
) -> None:
    author, fan, other, commenter = (uuid.uuid4() for _ in range(4))
    post = uuid.uuid4()
    await deliver(database, published(post, author))
    await deliver(database, liked(post, author, fan))
    await deliver(database, liked(post, author, other))
    await deliver(database, PostFeatured(post_id=post, author_id=author, featured_by=uuid.uuid4()))
    comment = CommentCreated(
        comment_id=uuid.uuid4(),
        post_id=post,
        author_id=commenter,
        parent_id=None,
        post_author_id=author,
    )
    await deliver(database, comment)
    assert points_and_value(await balances(database, author)) == (10 + 2 + 100, 2 + 2 + 20)
    assert points_and_value(await balances(database, commenter)) == (2, 1)

    removal = await deliver(
        database, PostRemoved(post_id=post, author_id=author, reason="moderation", removed_by=None)
    )
    assert points_and_value(await balances(database, author)) == (0, 0)
    assert points_and_value(await balances(database, commenter)) == (2, 1)
    reversals = "SELECT count(*) FROM ledger_entries WHERE user_id = :u AND kind = 'reverse'"
    assert await scalar(database, reversals, u=author) == 8  # 4 credits, points and value

    await deliver(database, removal)
    await deliver(database, liked(post, author, uuid.uuid4()))  # a late like of a removed post
    assert await scalar(database, reversals, u=author) == 8
    removed = CommentRemoved(
        comment_id=comment.comment_id,
        post_id=post,
        author_id=commenter,
        reason="author",
        removed_by=commenter,
    )
    await deliver(database, removed)
    assert points_and_value(await balances(database, commenter)) == (0, 0)
    for user in (author, commenter):
        await assert_ledger_adds_up(database, user)


async def test_like_unlike_like_pays_the_author_once(database: Database) -> None:
    author, fan, post = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await deliver(database, liked(post, author, fan))
    assert PostUnliked.event_type not in HANDLERS  # an unlike takes nothing back
    await deliver(database, liked(post, author, fan))
    assert points_and_value(await balances(database, author)) == (1, 1)
    source = "SELECT DISTINCT source_id FROM ledger_entries WHERE user_id = :u"
    assert [row[0] for row in await rows(database, source, u=author)] == [f"like:{post}:{fan}"]
    await assert_ledger_adds_up(database, author)


async def test_a_redelivered_envelope_changes_nothing(database: Database) -> None:
    author, post = uuid.uuid4(), uuid.uuid4()
    first = await deliver(database, published(post, author))
    before = await balances(database, author)
    await deliver(database, first)
    assert await balances(database, author) == before
    entries = "SELECT count(*) FROM ledger_entries WHERE user_id = :u"
    assert await scalar(database, entries, u=author) == 2
    await deliver(database, published(post, author))  # the same post announced anew: new id
    assert points_and_value(await balances(database, author)) == (20, 4)
    await assert_ledger_adds_up(database, author)


async def test_reporters_attendees_and_organizers_are_credited(database: Database) -> None:
    reporter, attendee, organizer, event = (uuid.uuid4() for _ in range(4))
    report = ReportUpheld(
        report_id=uuid.uuid4(),
        target_kind="post",
        target_id=uuid.uuid4(),
        reporter_id=reporter,
        author_id=uuid.uuid4(),
        resolved_by=uuid.uuid4(),
    )
    await deliver(database, report)
    checked_in = AttendanceCheckedIn(
        signup_id=uuid.uuid4(),
        event_id=event,
        user_id=attendee,
        organizer_id=organizer,
        checked_in_by=organizer,
        checked_in_at=AT,
    )
    await deliver(database, checked_in)
    completed = EventCompleted(
        event_id=event,
        organizer_id=organizer,
        attendee_count=1,
        confirmed_count=1,
        completed_at=AT,
    )
    await deliver(database, completed)
    assert points_and_value(await balances(database, reporter)) == (20, 5)
    assert points_and_value(await balances(database, attendee)) == (30, 5)
    assert points_and_value(await balances(database, organizer)) == (200, 30)
    link = "SELECT DISTINCT reference_type, reference_id FROM ledger_entries WHERE user_id = :u"
    assert [tuple(row) for row in await rows(database, link, u=organizer)] == [
        ("event", str(event))
    ]
    for user in (reporter, attendee, organizer):
        await assert_ledger_adds_up(database, user)
