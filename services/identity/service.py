"""Identity's domain logic: accounts, sessions, roles and vehicles.

Every function takes the unit of work's session and never commits. Login and refresh
*return* their refusals (:class:`Refused`) instead of raising them, because what led to
the refusal (a failure counted, a reused token's family revoked) must be committed.
"""

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from contracts.identity import (
    UserDeleted,
    UserRegistered,
    UserRoleChanged,
    UserUpdated,
    VehicleVerified,
)
from kit.bus.outbox import publish
from kit.db import utcnow
from kit.ids import new_id
from kit.problems import Conflict, NotFound, Problem, TooManyRequests, Unauthorized
from services.identity.models import (
    LoginThrottle,
    RefreshToken,
    User,
    UserRole,
    Vehicle,
    VehicleStatus,
)
from services.identity.passwords import Passwords, check_strength
from services.identity.schemas import TokenPair, UserCreate, UserUpdate, VehicleCreate
from services.identity.tokens import TokenIssuer, hash_secret, new_refresh_token

SOURCE = "identity"
BASE_ROLE = "fan"
OWNER_ROLE = "owner"
ADMIN_ROLE = "admin"
MAX_VEHICLES_PER_USER = 10
DELETED_EMAIL_DOMAIN = "deleted.invalid"
INVALID_LOGIN = "invalid email or password"


class RoleNotAssignable(Problem):
    status, code = 422, "role-not-assignable"


@dataclass(frozen=True)
class Lockout:
    """``max_failures`` consecutive failures within ``duration`` lock for ``duration``."""

    max_failures: int
    duration: timedelta


@dataclass(frozen=True)
class Refused:
    """A refusal to raise once the unit of work has committed what led to it."""

    problem: Problem


# Accounts


async def register(*, session: AsyncSession, data: UserCreate, passwords: Passwords) -> User:
    """Create a fan account; 409 when the email is taken (the unique key decides)."""
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
            registered_at=user.created_at,
        ),
        source=SOURCE,
    )
    return user


async def active_user(*, session: AsyncSession, user_id: uuid.UUID) -> User | None:
    """The user, or ``None`` when there is no such account or it was deleted."""
    user = await session.get(User, user_id)
    return None if user is None or user.is_deleted else user


async def profile(*, session: AsyncSession, user_id: uuid.UUID) -> User:
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
        source=SOURCE,
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
    publish(session, UserDeleted(user_id=user.id, deleted_at=now), source=SOURCE)


# Sessions


async def login(
    *,
    session: AsyncSession,
    email: str,
    password: str,
    passwords: Passwords,
    issuer: TokenIssuer,
    lockout: Lockout,
) -> TokenPair | Refused:
    """Tokens for a correct password; unknown emails are refused and locked alike."""
    now = utcnow()
    user = await session.scalar(select(User).where(col(User.email) == email))
    counter: User | LoginThrottle | None = user or await session.get(
        LoginThrottle, hash_secret(email)
    )
    if counter is not None and counter.locked_until is not None and counter.locked_until > now:
        retry_after = math.ceil((counter.locked_until - now).total_seconds())
        return Refused(TooManyRequests("too many failed logins", retry_after=retry_after))
    if not await passwords.verify(user.password_hash if user else None, password):
        await _count_failure(session, user, email, lockout, now)
        return Refused(Unauthorized(INVALID_LOGIN, code="invalid-login"))
    assert user is not None
    await _forget_failures(session, user, password, passwords)
    return await _issue(session, user=user, issuer=issuer, now=now)


async def refresh(
    *, session: AsyncSession, refresh_token: str, issuer: TokenIssuer
) -> TokenPair | Refused:
    """Rotate a refresh token; presenting a used one revokes its whole family."""
    now = utcnow()
    token = await _refresh_token(session, refresh_token)
    if token is None or token.revoked_at is not None or token.expires_at <= now:
        return Refused(Unauthorized("invalid or expired refresh token", code="invalid-refresh"))
    claimed = await session.execute(
        update(RefreshToken)
        .where(col(RefreshToken.id) == token.id, col(RefreshToken.used_at).is_(None))
        .values(used_at=now)
    )
    if _rowcount(claimed) != 1:
        await _revoke_family(session, token.family_id, now)
        detail = "refresh token already used: every session of this login was revoked"
        return Refused(Unauthorized(detail, code="refresh-reused"))
    user = await active_user(session=session, user_id=token.user_id)
    if user is None:
        return Refused(Unauthorized("the account no longer exists", code="invalid-refresh"))
    return await _issue(session, user=user, issuer=issuer, now=now, family_id=token.family_id)


async def logout(*, session: AsyncSession, refresh_token: str) -> None:
    """Revoke the family of ``refresh_token`` (that login on that device)."""
    token = await _refresh_token(session, refresh_token)
    if token is None:
        raise Unauthorized("invalid refresh token", code="invalid-refresh")
    await _revoke_family(session, token.family_id, utcnow())


async def _issue(
    session: AsyncSession,
    *,
    user: User,
    issuer: TokenIssuer,
    now: datetime,
    family_id: uuid.UUID | None = None,
) -> TokenPair:
    secret = new_refresh_token()
    session.add(
        RefreshToken(
            user_id=user.id,
            family_id=family_id or new_id(),
            token_hash=hash_secret(secret),
            expires_at=now + issuer.refresh_ttl,
        )
    )
    roles = await roles_of(session=session, user_id=user.id)
    return TokenPair(
        access_token=issuer.access_token(user_id=user.id, roles=roles, now=now),
        refresh_token=secret,
        expires_in=int(issuer.access_ttl.total_seconds()),
        refresh_expires_in=int(issuer.refresh_ttl.total_seconds()),
    )


async def _refresh_token(session: AsyncSession, secret: str) -> RefreshToken | None:
    query = select(RefreshToken).where(col(RefreshToken.token_hash) == hash_secret(secret))
    return await session.scalar(query)


async def _revoke_family(session: AsyncSession, family_id: uuid.UUID, now: datetime) -> None:
    await session.execute(
        update(RefreshToken)
        .where(col(RefreshToken.family_id) == family_id, col(RefreshToken.revoked_at).is_(None))
        .values(revoked_at=now)
    )


async def _count_failure(
    session: AsyncSession, user: User | None, email: str, lockout: Lockout, now: datetime
) -> None:
    """Count one failure atomically (concurrent attempts all count); lock at the limit."""
    if user is not None:
        values = _failure_values(User, lockout, now)
        await session.execute(
            update(User)
            .where(col(User.id) == user.id)
            .values(values)
            .execution_options(synchronize_session=False)
        )
        return
    await _count_unknown_email_failure(session, hash_secret(email), lockout, now)


async def _count_unknown_email_failure(
    session: AsyncSession, email_hash: str, lockout: Lockout, now: datetime
) -> None:
    locks = lockout.max_failures <= 1
    insert = _dialect_insert(session)(LoginThrottle).values(
        email_hash=email_hash,
        failed_logins=0 if locks else 1,
        last_failed_at=now,
        locked_until=now + lockout.duration if locks else None,
    )
    await session.execute(
        insert.on_conflict_do_update(
            index_elements=["email_hash"], set_=_failure_values(LoginThrottle, lockout, now)
        )
    )
    await session.execute(
        delete(LoginThrottle).where(
            col(LoginThrottle.last_failed_at) < now - lockout.duration,
            or_(col(LoginThrottle.locked_until).is_(None), col(LoginThrottle.locked_until) < now),
        )
    )


def _failure_values(
    table: type[User] | type[LoginThrottle], lockout: Lockout, now: datetime
) -> dict[str, Any]:
    """Column values for one more failure; failures older than the window are forgotten."""
    stale = or_(
        col(table.last_failed_at).is_(None),
        col(table.last_failed_at) < now - lockout.duration,
    )
    failures: ColumnElement[int] = case((stale, 1), else_=col(table.failed_logins) + 1)
    reached = failures >= lockout.max_failures
    return {
        "failed_logins": case((reached, 0), else_=failures),
        "locked_until": case((reached, now + lockout.duration), else_=col(table.locked_until)),
        "last_failed_at": now,
    }


async def _forget_failures(
    session: AsyncSession, user: User, password: str, passwords: Passwords
) -> None:
    user.failed_logins = 0
    user.last_failed_at = None
    user.locked_until = None
    if user.password_hash is not None and passwords.needs_rehash(user.password_hash):
        user.password_hash = await passwords.hash(password)
    session.add(user)


def _dialect_insert(session: AsyncSession) -> Any:
    """``INSERT`` with ``ON CONFLICT`` support for the session's backend."""
    assert session.bind is not None
    return postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert


def _rowcount(result: Any) -> int:
    return int(result.rowcount)


# Roles


async def roles_of(*, session: AsyncSession, user_id: uuid.UUID) -> list[str]:
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
    if await _add_role(session, user_id, role):
        await _publish_role_change(session, user_id, granted=[role], changed_by=changed_by)
    return await roles_of(session=session, user_id=user_id)


async def revoke_role(
    *, session: AsyncSession, user_id: uuid.UUID, role: str, changed_by: uuid.UUID
) -> list[str]:
    """Revoke an assignable role (idempotent); return the user's roles afterwards."""
    _refuse_unassignable(role)
    if role == ADMIN_ROLE and user_id == changed_by:
        raise Conflict("admins cannot revoke their own admin role", code="self-demotion")
    await profile(session=session, user_id=user_id)
    removed = await session.execute(
        delete(UserRole).where(col(UserRole.user_id) == user_id, col(UserRole.role) == role)
    )
    if _rowcount(removed):
        await _publish_role_change(session, user_id, revoked=[role], changed_by=changed_by)
    return await roles_of(session=session, user_id=user_id)


def _refuse_unassignable(role: str) -> None:
    if role == OWNER_ROLE:
        raise RoleNotAssignable("owner follows a verified vehicle: verify the user's vehicle")
    if role == BASE_ROLE:
        raise RoleNotAssignable("every user is a fan: the role cannot be granted or revoked")


async def _add_role(session: AsyncSession, user_id: uuid.UUID, role: str) -> bool:
    """Insert the role unless held; whether it was new (the primary key decides)."""
    insert = _dialect_insert(session)(UserRole).values(user_id=user_id, role=role)
    added = await session.execute(
        insert.on_conflict_do_nothing(index_elements=["user_id", "role"]).returning(
            col(UserRole.role)
        )
    )
    return added.first() is not None


async def _publish_role_change(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    changed_by: uuid.UUID | None,
    granted: Sequence[str] = (),
    revoked: Sequence[str] = (),
) -> None:
    payload = UserRoleChanged(
        user_id=user_id,
        roles=await roles_of(session=session, user_id=user_id),
        granted=list(granted),
        revoked=list(revoked),
        changed_by=changed_by,
    )
    publish(session, payload, source=SOURCE)


# Vehicles


async def submit_vehicle(*, session: AsyncSession, user: User, data: VehicleCreate) -> Vehicle:
    """Record a vehicle the user says they own, pending verification."""
    query = select(func.count()).select_from(Vehicle).where(col(Vehicle.user_id) == user.id)
    count = await session.scalar(query)
    if (count or 0) >= MAX_VEHICLES_PER_USER:
        raise Conflict(f"at most {MAX_VEHICLES_PER_USER} vehicles per account", code="too-many")
    vehicle = Vehicle(user_id=user.id, vin=data.vin, model=data.model)
    session.add(vehicle)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict("this vehicle is already on your account", code="vehicle-exists") from exc
    return vehicle


async def vehicles_of(*, session: AsyncSession, user_id: uuid.UUID) -> list[Vehicle]:
    query = select(Vehicle).where(col(Vehicle.user_id) == user_id).order_by(col(Vehicle.id))
    return list((await session.scalars(query)).all())


async def pending_vehicles(
    *, session: AsyncSession, after: uuid.UUID | None, limit: int
) -> list[Vehicle]:
    """Vehicles waiting for verification, oldest first, after the cursor ``after``."""
    query = select(Vehicle).where(
        col(Vehicle.status) == VehicleStatus.pending,
        col(Vehicle.vin).is_not(None),
    )
    if after is not None:
        query = query.where(col(Vehicle.id) > after)
    query = query.order_by(col(Vehicle.id)).limit(limit)
    return list((await session.scalars(query)).all())


async def verify_vehicle(
    *,
    session: AsyncSession,
    vehicle_id: uuid.UUID,
    verified_by: str,
    changed_by: uuid.UUID | None,
) -> Vehicle:
    """Verify a pending vehicle: its user becomes an owner. Idempotent.

    ``verified_by`` says who vouched (``staff:<user id>`` or ``partner:<app>``);
    ``changed_by`` is the person behind it, if any. A VIN is verified for one account
    at a time: a second one is a 409.
    """
    vehicle = await session.get(Vehicle, vehicle_id)
    if vehicle is None or vehicle.vin is None:
        raise NotFound("no such vehicle")
    if vehicle.status == VehicleStatus.verified:
        return vehicle
    if not await _mark_verified(session, vehicle, verified_by):
        await session.refresh(vehicle)
        return vehicle
    await session.refresh(vehicle)
    publish(
        session,
        VehicleVerified(
            user_id=vehicle.user_id,
            vehicle_id=vehicle.id,
            vin_last4=vehicle.vin[-4:],
            verified_by=verified_by,
        ),
        source=SOURCE,
    )
    if await _add_role(session, vehicle.user_id, OWNER_ROLE):
        await _publish_role_change(
            session, vehicle.user_id, granted=[OWNER_ROLE], changed_by=changed_by
        )
    return vehicle


async def _mark_verified(session: AsyncSession, vehicle: Vehicle, verified_by: str) -> bool:
    """Move pending to verified; ``False`` when someone else just did."""
    statement = (
        update(Vehicle)
        .where(col(Vehicle.id) == vehicle.id, col(Vehicle.status) == VehicleStatus.pending)
        .values(status=VehicleStatus.verified, verified_at=utcnow(), verified_by=verified_by)
        .execution_options(synchronize_session=False)
    )
    try:
        result = await session.execute(statement)
    except IntegrityError as exc:
        raise Conflict(
            "this VIN is already verified for another account", code="vin-verified"
        ) from exc
    return _rowcount(result) == 1


# Bootstrap


async def ensure_admin(
    *,
    session: AsyncSession,
    email: str,
    password: str,
    display_name: str,
    passwords: Passwords,
) -> User:
    """Create the account as an admin, or make the existing account an admin."""
    user = await session.scalar(select(User).where(col(User.email) == email))
    if user is None:
        data = UserCreate(email=email, password=password, display_name=display_name)
        user = await register(session=session, data=data, passwords=passwords)
    if await _add_role(session, user.id, ADMIN_ROLE):
        await _publish_role_change(session, user.id, granted=[ADMIN_ROLE], changed_by=None)
    return user
