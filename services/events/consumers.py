"""What events does with identity's announcements (``SUBSCRIPTIONS``, wired by the app).

* ``identity.user.deleted.v1``: the user's upcoming signups are cancelled, each freeing
  its seat for the head of the waitlist, and the local role copy is dropped.
* ``identity.user.role_changed.v1``: the user's roles are kept in ``member_roles``, so a
  role granted after the token was issued counts at once (see :mod:`.service.access`).

Each handler runs inside the consumer's transaction, together with its dedupe claim.
"""

import uuid

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from contracts.identity import UserDeleted, UserRoleChanged
from kit.bus.envelope import Envelope
from kit.db import upsert, utcnow
from kit.service import Subscription
from services.events.models import Event, MemberRoles, Signup
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


SUBSCRIPTIONS = (
    Subscription(
        name="identity-users",
        handlers={UserDeleted: on_user_deleted, UserRoleChanged: on_role_changed},
    ),
)
