"""What identity consumes from the bus (``SUBSCRIPTIONS``, wired by the app); each handler
runs in the consumer's unit of work with its dedupe claim.

* ``rewards.tier.changed.v1``: the member's tier, kept on the user and put into the next
  access tokens (claim ``tier``; tokens already issued keep theirs until they expire).
* ``rewards.club.membership_changed.v1``: the ``club`` role granted or revoked (through the
  role-change path, so ``identity.user.role_changed.v1`` is published).
"""

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from contracts.rewards import ClubMembershipChanged, TierChanged
from kit.bus.envelope import Envelope
from kit.service import Subscription
from services.identity.models import User
from services.identity.service import roles


async def on_tier_changed(session: AsyncSession, payload: TierChanged, _: Envelope) -> None:
    await session.execute(
        update(User).where(col(User.id) == payload.user_id).values(tier=payload.tier)
    )


async def on_club_membership_changed(
    session: AsyncSession, payload: ClubMembershipChanged, _: Envelope
) -> None:
    await roles.follow_club(session=session, user_id=payload.user_id, member=payload.member)


SUBSCRIPTIONS = (
    Subscription(
        name="rewards-members",
        handlers={
            TierChanged: on_tier_changed,
            ClubMembershipChanged: on_club_membership_changed,
        },
    ),
)
