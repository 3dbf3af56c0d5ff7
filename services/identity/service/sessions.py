"""Sessions: login with its lockout, refresh-token rotation, logout.

A login returns an access token and a refresh token; each refresh rotates the refresh
token within its family, and presenting a used one revokes the whole family (that login on
that device). Consecutive failed logins lock an account, and unknown emails are counted
and locked alike (:class:`services.identity.models.LoginThrottle`), so the lockout does
not reveal which emails are registered. The refusals whose cause must stay recorded (a
failure counted, a family revoked) are raised with ``commit=True``.
"""

import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from kit.db import dialect_insert, utcnow
from kit.ids import new_id
from kit.problems import TooManyRequests, Unauthorized
from services.identity.models import LoginThrottle, RefreshToken, User
from services.identity.passwords import Passwords
from services.identity.schemas import TokenPair
from services.identity.service.accounts import active_user
from services.identity.service.roles import roles_of
from services.identity.tokens import TokenIssuer, hash_secret, new_refresh_token

INVALID_LOGIN = "invalid email or password"


@dataclass(frozen=True)
class Lockout:
    """``max_failures`` consecutive failures within ``duration`` lock for ``duration``."""

    max_failures: int
    duration: timedelta


async def login(
    *,
    session: AsyncSession,
    email: str,
    password: str,
    passwords: Passwords,
    issuer: TokenIssuer,
    lockout: Lockout,
) -> TokenPair:
    """Tokens for a correct password; unknown emails are refused and locked alike."""
    now = utcnow()
    user = await session.scalar(select(User).where(col(User.email) == email))
    counter: User | LoginThrottle | None = user or await session.get(
        LoginThrottle, hash_secret(email)
    )
    if counter is not None and counter.locked_until is not None and counter.locked_until > now:
        retry_after = math.ceil((counter.locked_until - now).total_seconds())
        raise TooManyRequests("too many failed logins", retry_after=retry_after)
    if not await passwords.verify(user.password_hash if user else None, password):
        await _count_failure(session, user, email, lockout, now)
        raise Unauthorized(INVALID_LOGIN, code="invalid-login", commit=True)
    assert user is not None
    await _forget_failures(session, user, password, passwords)
    return await _issue(session, user=user, issuer=issuer, now=now)


async def refresh(*, session: AsyncSession, refresh_token: str, issuer: TokenIssuer) -> TokenPair:
    """Rotate a refresh token; presenting a used one revokes its whole family."""
    now = utcnow()
    token = await _refresh_token(session, refresh_token)
    if token is None or token.revoked_at is not None or token.expires_at <= now:
        raise Unauthorized("invalid or expired refresh token", code="invalid-refresh")
    claimed = await session.execute(
        update(RefreshToken)
        .where(col(RefreshToken.id) == token.id, col(RefreshToken.used_at).is_(None))
        .values(used_at=now)
        .returning(col(RefreshToken.id))
    )
    if claimed.first() is None:
        await _revoke_family(session, token.family_id, now)
        detail = "refresh token already used: every session of this login was revoked"
        raise Unauthorized(detail, code="refresh-reused", commit=True)
    user = await active_user(session=session, user_id=token.user_id)
    if user is None:
        raise Unauthorized("the account no longer exists", code="invalid-refresh")
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


# Throttling


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
    insert = dialect_insert(session, LoginThrottle).values(
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
