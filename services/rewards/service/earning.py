"""Which announcement earns whom what: the mapping from the other services' event types to
the earning rules' ``(source_type, role)``, the participant credited and the reference the
app links to ("why did I get this"), and what a removal takes back.

The rules themselves (amounts, caps, budgets) are data (:mod:`.rules`); this table only
says who the participant of each event is. A credit's source id is the CloudEvent id,
except where ``key`` names what is paid once: a like is keyed by ``(post, liker)``, so
liking, unliking and liking again pays the author once (and an unlike takes nothing
back: the like was given, and can be given once); a post is featured for pay once.

A removed post reverses what the post earned (reference ``post``: its publication, its
likes, its featuring), not its comments' credits (each comment is its own reference
``comment``, reversed when that comment is removed).

An event may credit several participants: a referral's pending reward pays the referrer
and the referee (when the referee has an account), each by the rules of its role. Every
referral credit has the reference ``referral`` and is keyed by the referral (a step pays
once per referral, whatever CloudEvent carries it); the delivery's points are *held*
(:mod:`.ledger`) until the referral is approved, and a voided referral takes back all
that its reference earned (:data:`REMOVALS`) and earns nothing more.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.catalog import Payload
from contracts.content import (
    CommentCreated,
    CommentRemoved,
    PostFeatured,
    PostLiked,
    PostPublished,
    PostRemoved,
    ReportUpheld,
)
from contracts.events import AttendanceCheckedIn, EventCompleted
from contracts.identity import UserRegistered, VehicleVerified
from contracts.referrals import (
    LeadCreated,
    RefereeDriveDone,
    RewardApproved,
    RewardPending,
    RewardVoided,
)
from kit.bus.envelope import Envelope
from services.rewards.service import rules


@dataclass(frozen=True)
class Earning:
    """Who an event credits: ``role`` of the rules, the payload field naming the member,
    the reference credited through, and when it happened."""

    role: str
    user_field: str
    reference_type: str
    reference_field: str
    time_field: str | None = None
    """The payload's moment; the envelope's time when ``None``."""
    key: str | None = None
    """A source id from the payload's fields (what is paid once); the CloudEvent id if ``None``."""
    held: bool = False
    """Points held until released (:func:`.ledger.release_held`)."""


REFERRAL = "referral"


def _referral(role: str, user_field: str, time_field: str, *, held: bool = False) -> Earning:
    return Earning(
        role, user_field, REFERRAL, "referral_id", time_field, key="{referral_id}", held=held
    )


EARNINGS: dict[type[Payload], tuple[Earning, ...]] = {
    UserRegistered: (Earning("actor", "user_id", "user", "user_id", time_field="registered_at"),),
    VehicleVerified: (Earning("actor", "user_id", "vehicle", "vehicle_id"),),
    PostPublished: (Earning("author", "author_id", "post", "post_id", time_field="published_at"),),
    CommentCreated: (Earning("author", "author_id", "comment", "comment_id"),),
    PostLiked: (Earning("author", "author_id", "post", "post_id", key="like:{post_id}:{user_id}"),),
    PostFeatured: (Earning("author", "author_id", "post", "post_id", key="featured:{post_id}"),),
    ReportUpheld: (Earning("reporter", "reporter_id", "report", "report_id"),),
    AttendanceCheckedIn: (
        Earning("attendee", "user_id", "event", "event_id", time_field="checked_in_at"),
    ),
    EventCompleted: (
        Earning("organizer", "organizer_id", "event", "event_id", time_field="completed_at"),
    ),
    LeadCreated: (_referral("referrer", "referrer_id", "occurred_at"),),
    RefereeDriveDone: (_referral("referrer", "referrer_id", "occurred_at"),),
    RewardPending: (
        _referral("referrer", "referrer_id", "delivered_at", held=True),
        _referral("referee", "referee_user_id", "delivered_at", held=True),
    ),
    RewardApproved: (_referral("referrer", "referrer_id", "approved_at"),),
}
"""Event type → the participants it credits (a participant whose field is null, such
as a referee without an account, is skipped)."""

REMOVALS: dict[type[Payload], tuple[str, str]] = {
    PostRemoved: ("post", "post_id"),
    CommentRemoved: ("comment", "comment_id"),
    RewardVoided: (REFERRAL, "referral_id"),
}
"""Removal event → (reference type, payload field): what it takes back."""


def _moment(fields: dict[str, Any], time_field: str | None, envelope: Envelope) -> datetime:
    value = fields.get(time_field) if time_field else None
    return value if isinstance(value, datetime) else envelope.time


async def credit(*, session: AsyncSession, payload: Payload, envelope: Envelope) -> None:
    """Credit each participant of ``payload`` by every rule for its type and role."""
    fields = dict(payload)
    for earning in EARNINGS[type(payload)]:
        if fields[earning.user_field] is None:
            continue
        await rules.earn(
            session=session,
            user_id=fields[earning.user_field],
            source_type=envelope.type,
            source_id=earning.key.format(**fields) if earning.key else envelope.id,
            role=earning.role,
            reference_type=earning.reference_type,
            reference_id=str(fields[earning.reference_field]),
            at=_moment(fields, earning.time_field, envelope),
            held=earning.held,
        )


async def take_back(*, session: AsyncSession, payload: Payload, envelope: Envelope) -> None:
    """Reverse what the removed post or comment, or the voided referral, earned."""
    reference_type, field = REMOVALS[type(payload)]
    await rules.reverse_reference(
        session=session,
        reference_type=reference_type,
        reference_id=str(dict(payload)[field]),
        source_type=envelope.type,
        source_id=envelope.id,
        at=envelope.time,
    )
