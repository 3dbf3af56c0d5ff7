"""Events published by the events service on ``events.events`` and ``events.signups``.

Both topics are keyed by the event id: lifecycle changes of one event, and every seat
movement of one event (confirm, waitlist, promote, cancel, check-in), reach consumers in
the order they were committed, so a consumer can replay an event's seat history exactly.

Points fees are only carried here: rewards charges ``fee_points`` on
``SignupConfirmed``/``SignupPromoted`` (answering ``rewards.signup_charge.settled``; a
refused charge makes events release the seat, reason ``payment_failed``) and refunds the
``refunds`` of ``EventCancelled`` and the ``refund_due`` of ``SignupCancelled``.
"""

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from contracts.catalog import Payload, event, topic

EVENTS_EVENTS = topic(
    "events.events", "Lifecycle of community events: published, updated, cancelled, completed"
)
EVENTS_SIGNUPS = topic(
    "events.signups",
    "Seats of community events: signups confirmed, waitlisted, promoted, cancelled, "
    "attendance checked in (keyed by event id)",
)

SignupVia = Literal["first_come", "draw", "queue"]
CancelReason = Literal[
    "user", "staff", "account_deleted", "payment_failed", "offer_declined", "offer_lapsed"
]
"""``payment_failed``: rewards could not charge the seat's fee (the next in line got it);
``offer_declined`` / ``offer_lapsed``: a waitlisted user declined, or did not answer, the
seat offered to them (the next in line is offered it)."""


@event("events.event.published.v1", topic=EVENTS_EVENTS, subject="event_id")
class EventPublished(Payload):
    """An event became visible and bookable (staff published it or approved a volunteer's).

    ``seed_commitment`` commits to its draw seed before anyone applies: hex SHA-256 of
    ``paddock-draw-v1:<seed>``; the seed is revealed after the draw
    (``GET /v1/events/{id}/draw``). Absent from events published before it existed."""

    event_id: UUID
    title: str
    category: str
    city: str
    venue_id: UUID | None
    organizer_id: UUID
    starts_at: datetime
    ends_at: datetime
    opens_at: datetime
    closes_at: datetime
    capacity: int
    signup_mode: str
    eligibility: str
    min_tier: int
    points_fee: int
    seed_commitment: str | None = None


@event("events.event.updated.v1", topic=EVENTS_EVENTS, subject="event_id")
class EventUpdated(Payload):
    """A published event was edited; ``changed`` names the fields that changed."""

    event_id: UUID
    changed: list[str]
    title: str
    starts_at: datetime
    ends_at: datetime
    capacity: int
    updated_by: UUID


class Refund(BaseModel):
    """Points to give back to one user whose paid seat was released."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    signup_id: UUID
    user_id: UUID
    fee_points: int


@event("events.event.cancelled.v1", topic=EVENTS_EVENTS, subject="event_id")
class EventCancelled(Payload):
    """An event was cancelled; every signup was released and ``refunds`` are due."""

    event_id: UUID
    organizer_id: UUID
    cancelled_by: UUID
    reason: str
    released_signups: int
    refunds: list[Refund]


@event("events.event.completed.v1", topic=EVENTS_EVENTS, subject="event_id")
class EventCompleted(Payload):
    """An event took place; the organizer's volunteer contribution is ``attendee_count``."""

    event_id: UUID
    organizer_id: UUID
    attendee_count: int
    confirmed_count: int
    completed_at: datetime


@event("events.signup.confirmed.v1", topic=EVENTS_SIGNUPS, subject="event_id")
class SignupConfirmed(Payload):
    """A user got a seat; rewards charges ``fee_points`` when it is above zero."""

    signup_id: UUID
    event_id: UUID
    user_id: UUID
    fee_points: int
    via: SignupVia


@event("events.signup.waitlisted.v1", topic=EVENTS_SIGNUPS, subject="event_id")
class SignupWaitlisted(Payload):
    """The event was full (or the draw was lost): the user waits at ``position``."""

    signup_id: UUID
    event_id: UUID
    user_id: UUID
    position: int


@event("events.signup.promoted.v1", topic=EVENTS_SIGNUPS, subject="event_id")
class SignupPromoted(Payload):
    """A freed seat went to the head of the waitlist; charge ``fee_points`` like a confirm."""

    signup_id: UUID
    event_id: UUID
    user_id: UUID
    fee_points: int
    from_position: int


@event("events.signup.cancelled.v1", topic=EVENTS_SIGNUPS, subject="event_id")
class SignupCancelled(Payload):
    """A signup was released; ``refund_due`` is the fee to give back (a confirmed seat's)."""

    signup_id: UUID
    event_id: UUID
    user_id: UUID
    previous_status: str
    refund_due: int
    reason: CancelReason


@event("events.attendance.checked_in.v1", topic=EVENTS_SIGNUPS, subject="event_id")
class AttendanceCheckedIn(Payload):
    """A confirmed attendee's QR code was scanned at the door."""

    signup_id: UUID
    event_id: UUID
    user_id: UUID
    organizer_id: UUID
    checked_in_by: UUID
    checked_in_at: datetime


@event("events.offer.made.v1", topic=EVENTS_SIGNUPS, subject="event_id")
class OfferMade(Payload):
    """A freed seat is held for a waitlisted signup until ``expires_at``: the user accepts
    (``signup.promoted`` follows, charged like any promotion) or declines; unanswered, the
    offer lapses and the seat is offered to the next in line."""

    offer_id: UUID
    signup_id: UUID
    event_id: UUID
    user_id: UUID
    expires_at: datetime


@event("events.offer.lapsed.v1", topic=EVENTS_SIGNUPS, subject="event_id")
class OfferLapsed(Payload):
    """An offer was not answered in time; its signup is cancelled (``offer_lapsed``)."""

    offer_id: UUID
    signup_id: UUID
    event_id: UUID
    user_id: UUID
