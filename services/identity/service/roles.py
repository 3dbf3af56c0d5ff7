"""Roles: who holds which, grants and revocations by admins, and the first admin.

``fan`` is every account's base role and ``owner`` follows a verified vehicle
(:mod:`.vehicles`): neither is granted or revoked by hand. Every change publishes
``identity.user.role_changed.v1`` with the full set of roles afterwards; a change an admin
made is also an audit record (``role.granted``, ``role.revoked``).
"""

import uuid
from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from contracts.identity import UserRoleChanged
from kit.audit import record_action
from kit.bus.outbox import publish
from kit.db import dialect_insert, utcnow
from kit.problems import Conflict, Problem
from services.identity.models import User, UserRole
from services.identity.passwords import Passwords
from services.identity.schemas import UserCreate
from services.identity.service.accounts import BASE_ROLE, profile, register

OWNER_ROLE = "owner"
ADMIN_ROLE = "admin"
CLUB_ROLE = "club"


class RoleNotAssignable(Problem):
    status, code = 422, "role-not-assignable"


async def roles_of(*, session: AsyncSession, user_id: uuid.UUID) -> list[str]:
    """The user's roles, sorted."""
    query = (
        select(col(UserRole.role))
        .where(col(UserRole.user_id) == user_id)
        .order_by(col(UserRole.role))
    )
    return list((await session.scalars(query)).all())


async def grant_role(
    *, session: AsyncSession, user_id: uuid.UUID, role: str, changed_by: uuid.UUID
) -> list[str]:
    """Grant an assignable role (idempotent); return the user's roles afterwards."""
    _refuse_unassignable(role)
    await profile(session=session, user_id=user_id)
    if await add_role(session=session, user_id=user_id, role=role):
        await publish_role_change(
            session=session, user_id=user_id, granted=[role], changed_by=changed_by
        )
        record_action(session, actor=changed_by, action="role.granted", subject=user_id, role=role)
    return await roles_of(session=session, user_id=user_id)


async def revoke_role(
    *, session: AsyncSession, user_id: uuid.UUID, role: str, changed_by: uuid.UUID
) -> list[str]:
    """Revoke an assignable role (idempotent); return the user's roles afterwards."""
    _refuse_unassignable(role)
    if role == ADMIN_ROLE and user_id == changed_by:
        raise Conflict("admins cannot revoke their own admin role", code="self-demotion")
    await profile(session=session, user_id=user_id)
    if await remove_role(session=session, user_id=user_id, role=role):
        await publish_role_change(
            session=session, user_id=user_id, revoked=[role], changed_by=changed_by
        )
        record_action(session, actor=changed_by, action="role.revoked", subject=user_id, role=role)
    return await roles_of(session=session, user_id=user_id)


def _refuse_unassignable(role: str) -> None:
    if role == OWNER_ROLE:
        raise RoleNotAssignable("owner follows a verified vehicle: verify the user's vehicle")
    if role == BASE_ROLE:
        raise RoleNotAssignable("every user is a fan: the role cannot be granted or revoked")
    if role == CLUB_ROLE:
        raise RoleNotAssignable("club follows rewards' club: it is computed, not granted")


async def add_role(*, session: AsyncSession, user_id: uuid.UUID, role: str) -> bool:
    """Insert the role unless held; whether it was new (the primary key decides)."""
    insert = dialect_insert(session, UserRole).values(user_id=user_id, role=role)
    added = await session.execute(
        insert.on_conflict_do_nothing(index_elements=["user_id", "role"]).returning(
            col(UserRole.role)
        )
    )
    return added.first() is not None


async def remove_role(*, session: AsyncSession, user_id: uuid.UUID, role: str) -> bool:
    """Delete the role when held; whether it was."""
    removed = await session.execute(
        delete(UserRole)
        .where(col(UserRole.user_id) == user_id, col(UserRole.role) == role)
        .returning(col(UserRole.role))
    )
    return removed.first() is not None


async def follow_club(*, session: AsyncSession, user_id: uuid.UUID, member: bool) -> None:
    """Grant or revoke ``club`` as rewards announced (the system acts: no actor, no audit
    record); a change publishes ``identity.user.role_changed.v1``. Accounts identity does
    not hold, or deleted ones, are left alone."""
    user = await session.get(User, user_id)
    if user is None or user.is_deleted:
        return
    if member and await add_role(session=session, user_id=user_id, role=CLUB_ROLE):
        await publish_role_change(
            session=session, user_id=user_id, granted=[CLUB_ROLE], changed_by=None
        )
    if not member and await remove_role(session=session, user_id=user_id, role=CLUB_ROLE):
        await publish_role_change(
            session=session, user_id=user_id, revoked=[CLUB_ROLE], changed_by=None
        )


async def publish_role_change(
    *,
    session: AsyncSession,
    user_id: uuid.UUID,
    changed_by: uuid.UUID | None,
    granted: Sequence[str] = (),
    revoked: Sequence[str] = (),
) -> None:
    """Stage ``identity.user.role_changed.v1``; ``changed_by`` (``None``: the system) is
    its actor."""
    payload = UserRoleChanged(
        user_id=user_id,
        roles=await roles_of(session=session, user_id=user_id),
        granted=list(granted),
        revoked=list(revoked),
        changed_by=changed_by,
        changed_at=utcnow(),
    )
    publish(session, payload, actor=changed_by)


async def ensure_admin(
    *,
    session: AsyncSession,
    email: str,
    password: str,
    display_name: str,
    passwords: Passwords,
) -> User:
    """Create the account as an admin, or make the existing account an admin (the system
    acts: the operator's command, so no audit record and no actor on the role change)."""
    user = await session.scalar(select(User).where(col(User.email) == email))
    if user is None:
        data = UserCreate(email=email, password=password, display_name=display_name)
        user = await register(session=session, data=data, passwords=passwords)
    if await add_role(session=session, user_id=user.id, role=ADMIN_ROLE):
        await publish_role_change(
            session=session, user_id=user.id, granted=[ADMIN_ROLE], changed_by=None
        )
    return user
