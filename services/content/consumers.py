"""What content does with other services' announcements (``SUBSCRIPTIONS``, wired by the app).

* ``identity.user.registered.v1`` / ``updated.v1``: the member's name, city and the date
  they registered (a new account's posts may be held: :mod:`.service.premoderation`).
* ``identity.user.role_changed.v1``: the member's roles (standing, industry circles).
* ``identity.user.deleted.v1``: the member is marked deleted, their content erased or
  dropped (:mod:`.service.erasure`).
* ``rewards.poll_charge.settled.v1``: a weighted vote's points were charged (it is counted)
  or could not be (it is refused); see :mod:`.service.polls`.
* ``rewards.tier.changed.v1``: the member's reward tier (``members.tier``, standing).

Each handler runs inside the consumer's transaction, together with its dedupe claim.
"""

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.identity import UserDeleted, UserRegistered, UserRoleChanged, UserUpdated
from contracts.rewards import PollChargeSettled, TierChanged
from kit.bus.envelope import Envelope
from kit.db import upsert, utcnow
from kit.service import Subscription
from services.content.models import Member
from services.content.service import circles, erasure, polls
from services.content.service.access import STAFF_ROLES


async def on_user_registered(session: AsyncSession, payload: UserRegistered, _: Envelope) -> None:
    values = {
        "user_id": payload.user_id,
        "display_name": payload.display_name,
        "registered_at": payload.registered_at,
        "updated_at": utcnow(),
    }
    await session.execute(
        upsert(session, Member, values, key=["user_id"], update=["display_name", "registered_at"])
    )


async def on_user_updated(session: AsyncSession, payload: UserUpdated, _: Envelope) -> None:
    values = {
        "user_id": payload.user_id,
        "display_name": payload.display_name,
        "city": payload.city,
        "updated_at": utcnow(),
    }
    await session.execute(
        upsert(
            session, Member, values, key=["user_id"], update=["display_name", "city", "updated_at"]
        )
    )


async def on_role_changed(session: AsyncSession, payload: UserRoleChanged, _: Envelope) -> None:
    """Keep the member's roles; one who is no owner (nor staff) any more leaves the
    industry circles."""
    values = {"user_id": payload.user_id, "roles": sorted(payload.roles), "updated_at": utcnow()}
    await session.execute(
        upsert(session, Member, values, key=["user_id"], update=["roles", "updated_at"])
    )
    if not set(payload.roles) & {*circles.OWNER_ROLES, *STAFF_ROLES}:
        await circles.drop_industry_memberships(session=session, user_id=payload.user_id)


async def on_user_deleted(session: AsyncSession, payload: UserDeleted, _: Envelope) -> None:
    await erasure.erase_account(
        session=session, user_id=payload.user_id, deleted_at=payload.deleted_at
    )


async def on_poll_charge_settled(
    session: AsyncSession, payload: PollChargeSettled, _: Envelope
) -> None:
    await polls.settle_charge(session=session, payload=payload)


async def on_tier_changed(session: AsyncSession, payload: TierChanged, _: Envelope) -> None:
    values = {"user_id": payload.user_id, "tier": payload.tier, "updated_at": utcnow()}
    await session.execute(
        upsert(session, Member, values, key=["user_id"], update=["tier", "updated_at"])
    )


SUBSCRIPTIONS = (
    Subscription(
        name="identity-users",
        handlers={
            UserRegistered: on_user_registered,
            UserUpdated: on_user_updated,
            UserRoleChanged: on_role_changed,
            UserDeleted: on_user_deleted,
        },
    ),
    Subscription(name="rewards-charges", handlers={PollChargeSettled: on_poll_charge_settled}),
    Subscription(name="rewards-members", handlers={TierChanged: on_tier_changed}),
)
