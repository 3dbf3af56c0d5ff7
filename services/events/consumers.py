"""What events does with identity's announcements.

* ``identity.user.deleted.v1``: the user's upcoming signups are cancelled, each freeing
  its seat for the head of the waitlist, and the local role copy is dropped.
* ``identity.user.role_changed.v1``: the user's roles are kept in ``member_roles``.
  Eligibility trusts the caller's token first; this copy only lets a role granted after
  the token was issued count at once (see :mod:`services.events.service.access`).

Each handler runs inside the consumer's transaction, together with its dedupe claim.
"""

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from contracts.identity import UserDeleted, UserRoleChanged
from kit.bus.consumer import EventConsumer, Handler
from kit.bus.envelope import Envelope
from kit.db import Database, utcnow
from services.events.models import Event, MemberRoles, Signup
from services.events.service.signups import ACTIVE, release


async def on_user_deleted(session: AsyncSession, payload: UserDeleted, _: Envelope) -> None:
    now = utcnow()
    upcoming = await session.scalars(
        select(Signup)
        .join(Event, col(Event.id) == col(Signup.event_id))
        .where(col(Signup.user_id) == payload.user_id, col(Signup.status).in_(ACTIVE))
        .where(col(Event.starts_at) > now)
        .order_by(col(Signup.event_id))
    )
    for signup in upcoming.all():
        await release(session, signup=signup, reason="account_deleted", now=now)
    await session.execute(delete(MemberRoles).where(col(MemberRoles.user_id) == payload.user_id))


async def on_role_changed(session: AsyncSession, payload: UserRoleChanged, _: Envelope) -> None:
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    values = {"user_id": payload.user_id, "roles": sorted(payload.roles), "updated_at": utcnow()}
    statement = dialect.insert(MemberRoles).values(**values)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["user_id"],
            set_={"roles": statement.excluded.roles, "updated_at": statement.excluded.updated_at},
        )
    )


HANDLERS: dict[type, Handler] = {UserDeleted: on_user_deleted, UserRoleChanged: on_role_changed}


def identity_consumer(database: Database, bootstrap_servers: str) -> EventConsumer:
    return EventConsumer(
        name="identity-users",
        service="events",
        database=database,
        bootstrap_servers=bootstrap_servers,
        handlers=HANDLERS,
    )
