"""What events does with identity's and rewards' announcements (``SUBSCRIPTIONS``, wired
by the app).

* ``identity.user.deleted.v1``: the user's upcoming signups are cancelled, each freeing
  its seat for the head of the waitlist, and the local role copy is dropped.
* ``identity.user.role_changed.v1``: the user's roles are kept in ``member_roles``, so a
  role granted after the token was issued counts at once (see :mod:`.service.access`).
* ``rewards.signup_charge.settled.v1``: a paid seat whose fee could not be charged is
  released (reason ``payment_failed``), and the freed seat goes to the head of the
  waitlist, whose promotion rewards charges in turn (ADR 0007). A charged seat needs
  nothing; a signup already cancelled, checked in, or whose event started stays as it is.

Each handler runs inside the consumer's transaction, together with its dedupe claim.
"""

import uuid

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from contracts.identity import UserDeleted, UserRoleChanged
from contracts.rewards import SignupChargeSettled
from kit.bus.envelope import Envelope
from kit.db import upsert, utcnow
from kit.service import Subscription
from services.events.models import Event, MemberRoles, Signup, SignupStatus
from services.events.service.signups import ACTIVE, release


async def on_user_deleted(session: AsyncSession, payload: UserDeleted, envelope: Envelope) -> None:
    now = utcnow()
    upcoming = await session.scalars(
        select(Signup)
        .join(Event, col(Event.id) == col(Signup.event_id))
        .where(col(Signup.user_id) == payload.user_id, col(Signup.status).in_(ACTIVE))
        .where(col(Event.starts_at) > now, col(Signup.checked_in_at).is_(None))
        .order_by(col(Signup.event_id))
    )
    actor = uuid.UUID(envelope.actor) if envelope.actor else None
    for signup in upcoming.all():
        await release(
            session=session, signup=signup, reason="account_deleted", now=now, actor=actor
        )
    await session.execute(delete(MemberRoles).where(col(MemberRoles.user_id) == payload.user_id))


async def on_role_changed(session: AsyncSession, payload: UserRoleChanged, _: Envelope) -> None:
    values = {"user_id": payload.user_id, "roles": sorted(payload.roles), "updated_at": utcnow()}
    await session.execute(
        upsert(session, MemberRoles, values, key=["user_id"], update=["roles", "updated_at"])
    )


async def on_charge_settled(
    session: AsyncSession, payload: SignupChargeSettled, _: Envelope
) -> None:
    if payload.charged:
        return
    now = utcnow()
    unpaid = await session.scalar(
        select(Signup)
        .join(Event, col(Event.id) == col(Signup.event_id))
        .where(col(Signup.id) == payload.signup_id, col(Signup.status) == SignupStatus.CONFIRMED)
        .where(col(Event.starts_at) > now, col(Signup.checked_in_at).is_(None))
    )
    if unpaid is not None:
        await release(session=session, signup=unpaid, reason="payment_failed", now=now, actor=None)


SUBSCRIPTIONS = (
    Subscription(
        name="identity-users",
        handlers={UserDeleted: on_user_deleted, UserRoleChanged: on_role_changed},
    ),
    Subscription(name="rewards-charges", handlers={SignupChargeSettled: on_charge_settled}),
)
