"""Events published by referrals on ``referrals.funnel`` and ``referrals.rewards``.

* ``referrals.funnel`` (keyed by referral id): every step of a referred prospect's way
  to a car, from the lead to the delivery (or the cancelled or refunded order). No
  personal data travels here: the prospect is a Paddock account id or nobody (a lead
  from the share form without an account).
* ``referrals.rewards`` (keyed by referral id): the referral reward's states. Rewards
  credits from them (rules are data in rewards; referrals never writes points):

  - ``pending`` at delivery: the referrer's and referee's delivery rewards, held;
  - ``approved`` once the refund window passed (or staff approved a flagged one): the
    held rewards become spendable, the referrer counts as a rewarded referrer;
  - ``voided`` when the order was refunded inside the window, or staff voided it: all
    that the referral earned is taken back (as debt where it was already spent);
  - ``flagged`` when a fraud check or a refund after approval asks staff to look.
"""

from datetime import datetime
from typing import Literal
from uuid import UUID

from contracts.catalog import Payload, event, topic

REFERRALS_FUNNEL = topic(
    "referrals.funnel",
    "Referred prospects' funnel: lead, test drive, order, delivery (keyed by referral id)",
)
REFERRALS_REWARDS = topic(
    "referrals.rewards",
    "Referral rewards pending, approved, voided or flagged (keyed by referral id)",
)

LeadSource = Literal["registration", "share_form", "claimed"]
"""How the lead came: registered with the code, left details in the share form, or an
account that entered the code after registering (within the attribution window)."""


class FunnelStep(Payload):
    """What every funnel step carries."""

    referral_id: UUID
    referrer_id: UUID
    referee_user_id: UUID | None
    occurred_at: datetime


@event("referrals.funnel.lead_created.v1", topic=REFERRALS_FUNNEL, subject="referral_id")
class LeadCreated(FunnelStep):
    """A prospect became the referrer's lead."""

    source: LeadSource


@event("referrals.funnel.test_drive_booked.v1", topic=REFERRALS_FUNNEL, subject="referral_id")
class RefereeDriveBooked(FunnelStep):
    """The referred prospect booked a test drive."""


@event("referrals.funnel.test_drive_done.v1", topic=REFERRALS_FUNNEL, subject="referral_id")
class RefereeDriveDone(FunnelStep):
    """The referred prospect took a test drive."""


@event("referrals.funnel.order_placed.v1", topic=REFERRALS_FUNNEL, subject="referral_id")
class RefereeOrderPlaced(FunnelStep):
    """The referred prospect ordered a vehicle."""


@event("referrals.funnel.vehicle_delivered.v1", topic=REFERRALS_FUNNEL, subject="referral_id")
class RefereeVehicleDelivered(FunnelStep):
    """The referred prospect's vehicle was delivered."""


@event("referrals.funnel.order_cancelled.v1", topic=REFERRALS_FUNNEL, subject="referral_id")
class RefereeOrderCancelled(FunnelStep):
    """The referred prospect's order was cancelled before delivery."""


@event("referrals.funnel.order_refunded.v1", topic=REFERRALS_FUNNEL, subject="referral_id")
class RefereeOrderRefunded(FunnelStep):
    """The referred prospect's delivered vehicle was returned and refunded."""


class RewardState(Payload):
    """What every reward event carries."""

    referral_id: UUID
    referrer_id: UUID
    referee_user_id: UUID | None


@event("referrals.reward.pending.v1", topic=REFERRALS_REWARDS, subject="referral_id")
class RewardPending(RewardState):
    """The vehicle was delivered: the referral's rewards are earned, held until
    ``approves_at`` (the end of the refund window) or a staff decision."""

    delivered_at: datetime
    approves_at: datetime


@event("referrals.reward.approved.v1", topic=REFERRALS_REWARDS, subject="referral_id")
class RewardApproved(RewardState):
    """The refund window passed (``approved_by`` null) or staff approved the referral."""

    approved_at: datetime
    approved_by: UUID | None = None
    reason: str | None = None


@event("referrals.reward.voided.v1", topic=REFERRALS_REWARDS, subject="referral_id")
class RewardVoided(RewardState):
    """The referral earns nothing: its order was refunded inside the window
    (``voided_by`` null) or staff voided it; whatever it earned is taken back."""

    voided_at: datetime
    voided_by: UUID | None = None
    reason: str
    was_approved: bool


@event("referrals.reward.flagged.v1", topic=REFERRALS_REWARDS, subject="referral_id")
class RewardFlagged(RewardState):
    """The referral waits for staff: a fraud check or a refund after approval. An
    approved reward stays approved until staff void it."""

    flagged_at: datetime
    reasons: list[str]
