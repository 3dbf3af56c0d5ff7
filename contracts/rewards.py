"""Events published by the rewards service on ``rewards.*``.

* ``rewards.charges`` (keyed by the aggregate that asked: the event of a paid seat, the
  poll of a weighted vote): whether the points were charged. Events releases a seat whose
  charge failed (ADR 0007); content counts a weighted vote once it is charged.
* ``rewards.members`` (keyed by user id): tier changes (identity puts the tier into access
  tokens; content's standing and events' ``min_tier`` read it) and club membership
  (identity grants and revokes the ``club`` role).
* ``rewards.orders`` (keyed by order id): mall orders placed and cancelled, for the
  fulfilment partner.
"""

from datetime import datetime
from typing import Literal
from uuid import UUID

from contracts.catalog import Payload, event, topic

REWARDS_CHARGES = topic(
    "rewards.charges",
    "Outcomes of points charges other services asked for (keyed by the asking aggregate)",
)
REWARDS_MEMBERS = topic(
    "rewards.members", "Members' standing: tier changes and club membership (keyed by user id)"
)
REWARDS_ORDERS = topic(
    "rewards.orders", "Mall orders placed and cancelled, for fulfilment (keyed by order id)"
)

ClubReason = Literal["yearly_top", "quarter_growth", "top_referrer"]


@event("rewards.poll_charge.settled.v1", topic=REWARDS_CHARGES, subject="poll_id")
class PollChargeSettled(Payload):
    """The points of a weighted poll vote were charged (``charged``) or could not be."""

    poll_id: UUID
    ballot_id: UUID
    user_id: UUID
    charged: bool
    reason: str | None = None


@event("rewards.signup_charge.settled.v1", topic=REWARDS_CHARGES, subject="event_id")
class SignupChargeSettled(Payload):
    """The fee of a confirmed or promoted paid seat was charged, or could not be (the
    user's spendable points were short): events then releases the seat to the next in line."""

    event_id: UUID
    signup_id: UUID
    user_id: UUID
    points: int
    charged: bool
    reason: str | None = None


@event("rewards.tier.changed.v1", topic=REWARDS_MEMBERS, subject="user_id")
class TierChanged(Payload):
    """A member's tier moved (up at once; down after the grace period)."""

    user_id: UUID
    tier: int
    previous_tier: int
    tier_name: str
    community_value: int
    changed_at: datetime


@event("rewards.club.membership_changed.v1", topic=REWARDS_MEMBERS, subject="user_id")
class ClubMembershipChanged(Payload):
    """A member joined or left the club; ``reasons`` are why they are in it (empty: out)."""

    user_id: UUID
    member: bool
    reasons: list[ClubReason]
    period: str
    changed_at: datetime


@event("rewards.order.placed.v1", topic=REWARDS_ORDERS, subject="order_id")
class OrderPlaced(Payload):
    """A mall order was paid in points (``cash_cents`` is recorded, collected elsewhere)."""

    order_id: UUID
    user_id: UUID
    item_id: UUID
    item_name: str
    quantity: int
    points: int
    cash_cents: int
    placed_at: datetime


@event("rewards.order.cancelled.v1", topic=REWARDS_ORDERS, subject="order_id")
class OrderCancelled(Payload):
    """A mall order was cancelled; its points were refunded and its stock returned."""

    order_id: UUID
    user_id: UUID
    item_id: UUID
    quantity: int
    refunded_points: int
    cancelled_by: UUID
    reason: str
