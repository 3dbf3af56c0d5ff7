"""What identity consumes from the bus (``SUBSCRIPTIONS``, wired by the app); each handler
runs in the consumer's unit of work with its dedupe claim.

* ``rewards.tier.changed.v1``: the member's tier, kept on the user and put into the next
  access tokens (claim ``tier``; tokens already issued keep theirs until they expire).
* ``rewards.club.membership_changed.v1``: the ``club`` role granted or revoked (through the
  role-change path, so ``identity.user.role_changed.v1`` is published).
* ``partners.sales.vehicle_delivered.v1``: the buyer, when the report names their account,
  owns the delivered vehicle: verified by ``partner:<partner_id>`` and made an owner once
  (:func:`.service.vehicles.verify_delivery`). Readers dedupe on what a report is about:
  a resent report (another CloudEvent id) finds the VIN verified already and changes
  nothing. The other sales reports are referrals' business.
"""

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from contracts.partners import SalesVehicleDelivered
from contracts.rewards import ClubMembershipChanged, TierChanged
from kit.bus.envelope import Envelope
from kit.service import Subscription
from services.identity.models import User
from services.identity.service import roles, vehicles


async def on_tier_changed(session: AsyncSession, payload: TierChanged, _: Envelope) -> None:
    await session.execute(
        update(User).where(col(User.id) == payload.user_id).values(tier=payload.tier)
    )


async def on_club_membership_changed(
    session: AsyncSession, payload: ClubMembershipChanged, _: Envelope
) -> None:
    await roles.follow_club(session=session, user_id=payload.user_id, member=payload.member)


async def on_vehicle_delivered(
    session: AsyncSession, payload: SalesVehicleDelivered, _: Envelope
) -> None:
    if payload.customer_user_id is not None:
        await vehicles.verify_delivery(
            session=session,
            user_id=payload.customer_user_id,
            vin=payload.vin,
            partner_id=payload.partner_id,
        )


SUBSCRIPTIONS = (
    Subscription(
        name="rewards-members",
        handlers={
            TierChanged: on_tier_changed,
            ClubMembershipChanged: on_club_membership_changed,
        },
    ),
    Subscription(name="partners-inbound", handlers={SalesVehicleDelivered: on_vehicle_delivered}),
)
