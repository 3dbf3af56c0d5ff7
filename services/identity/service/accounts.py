"""Accounts: registration, the profile a user shows, and deleting an account.

Every account is a fan; a deleted account stays as a tombstone row without personal data.
"""

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import bindparam, delete, inspect, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from contracts.identity import UserDeleted, UserRegistered, UserUpdated
from kit.audit import record_action
from kit.bus.outbox import publish
from kit.db import utcnow
from kit.db.direct import DirectStatements
from kit.problems import Conflict, NotFound
from services.identity.models import RefreshToken, User, UserRole, Vehicle
from services.identity.passwords import Passwords, check_strength
from services.identity.schemas import UserCreate, UserUpdate
from services.identity.tokens import hash_secret

BASE_ROLE = "fan"
DELETED_EMAIL_DOMAIN = "deleted.invalid"


async def register(
    *,
    session: AsyncSession,
    data: UserCreate,
    passwords: Passwords,
    device_id: str | None = None,
) -> User:
    """Create a fan account; 409 when the email is taken (the unique key decides). The
    event carries the SHA-256 of ``device_id`` (the app's ``X-Device-Id``), hashed as
    known devices are, never the id itself."""
    check_strength(data.password, data.email)
    user = User(
        email=data.email,
        display_name=data.display_name,
        password_hash=await passwords.hash(data.password),
    )
    session.add(user)
    session.add(UserRole(user_id=user.id, role=BASE_ROLE))
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict("an account with this email already exists", code="email-taken") from exc
    publish(
        session,
        UserRegistered(
            user_id=user.id,
            display_name=user.display_name,
            referral_code=data.referral_code,
            device_hash=hash_secret(device_id) if device_id is not None else None,
            registered_at=user.created_at,
        ),
        actor=user.id,
    )
    return user


async def active_user(*, session: AsyncSession, user_id: uuid.UUID) -> User | None:
    """The user, or ``None`` when there is no such account or it was deleted."""
    user = await session.get(User, user_id)
    return None if user is None or user.is_deleted else user


_ACCOUNT = (
    select(*inspect(User).columns, col(UserRole.role))
    .outerjoin(UserRole, col(UserRole.user_id) == col(User.id))
    .where(col(User.id) == bindparam("user_id"), col(User.deleted_at).is_(None))
    .order_by(col(UserRole.role))
)
"""Built once: ``GET /v1/me`` is what every app start asks."""


async def own_account(
    *, reads: DirectStatements, user_id: uuid.UUID
) -> tuple[Mapping[str, Any], list[str]] | None:
    """The active account's row and its roles (sorted), in one statement without the ORM;
    ``None`` when there is no such account or it was deleted."""
    rows = await reads.all(_ACCOUNT, user_id=user_id)
    if not rows:
        return None
    return rows[0], [row["role"] for row in rows if row["role"] is not None]


async def profile(*, session: AsyncSession, user_id: uuid.UUID) -> User:
    """The active account ``user_id``; 404 when there is none."""
    user = await active_user(session=session, user_id=user_id)
    if user is None:
        raise NotFound("no such user")
    return user


async def update_profile(*, session: AsyncSession, user: User, data: UserUpdate) -> User:
    """Apply the fields sent; publish ``identity.user.updated.v1`` when something changed."""
    changes = {
        field: str(value) if field == "avatar_url" and value is not None else value
        for field, value in data.model_dump(exclude_unset=True).items()
    }
    changed = {field: value for field, value in changes.items() if getattr(user, field) != value}
    if not changed:
        return user
    user.sqlmodel_update(changed)
    user.updated_at = utcnow()
    session.add(user)
    publish(
        session,
        UserUpdated(user_id=user.id, display_name=user.display_name, city=user.city),
        actor=user.id,
    )
    return user


async def delete_account(*, session: AsyncSession, user: User) -> None:
    """Erase personal data, end every session, keep the row as a tombstone."""
    now = utcnow()
    user.sqlmodel_update(
        {
            "email": f"deleted-{user.id}@{DELETED_EMAIL_DOMAIN}",
            "password_hash": None,
            "display_name": "",
            "bio": None,
            "city": None,
            "avatar_url": None,
            "failed_logins": 0,
            "last_failed_at": None,
            "locked_until": None,
            "deleted_at": now,
            "updated_at": now,
        }
    )
    session.add(user)
    await session.execute(
        update(RefreshToken)
        .where(col(RefreshToken.user_id) == user.id, col(RefreshToken.revoked_at).is_(None))
        .values(revoked_at=now)
    )
    await session.execute(update(Vehicle).where(col(Vehicle.user_id) == user.id).values(vin=None))
    await session.execute(delete(UserRole).where(col(UserRole.user_id) == user.id))
    publish(session, UserDeleted(user_id=user.id, deleted_at=now), actor=user.id)


async def find_by_email(*, session: AsyncSession, email: str, looked_up_by: uuid.UUID) -> User:
    """The active account whose (normalized) email is exactly ``email``, for staff; 404
    when there is none. Reading someone's account by email is recorded in the audit."""
    found = await session.execute(select(User).where(col(User.email) == email))
    user = found.scalar_one_or_none()
    if user is None or user.is_deleted:
        raise NotFound("no account with this email")
    record_action(session, actor=looked_up_by, action="user.looked_up", subject=user.id, by="email")
    return user
