"""Sessions: login with its throttling, refresh-token rotation, logout.

A login returns an access token and a refresh token; each refresh rotates the refresh
token within its family, and presenting a used one revokes the whole family (that login on
that device). Failed logins are throttled per account and client, with a much higher
ceiling per account that a known device is exempt from (:mod:`.throttle`); unknown emails
are counted and throttled alike, so the answers do not reveal which emails are registered.
The refusals whose cause must stay recorded (a failure counted, a family revoked) are
raised with ``commit=True``.
"""

import uuid
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from contracts.identity import SessionsRevoked
from kit.bus.outbox import publish
from kit.db import utcnow
from kit.ids import new_id
from kit.problems import Unauthorized
from services.identity.models import RefreshToken, User
from services.identity.passwords import Passwords
from services.identity.schemas import TokenPair
from services.identity.service.accounts import active_user
from services.identity.service.roles import roles_of
from services.identity.service.throttle import (
    LoginClient,
    Throttling,
    count_failure,
    email_key,
    forget_client,
    is_known_device,
    refuse_if_throttled,
)
from services.identity.tokens import TokenIssuer, hash_secret, new_refresh_token

INVALID_LOGIN = "invalid email or password"


async def login(
    *,
    session: AsyncSession,
    email: str,
    password: str,
    passwords: Passwords,
    issuer: TokenIssuer,
    throttling: Throttling,
    client: LoginClient,
) -> TokenPair:
    """Tokens for a correct password. A throttled client (or, from an unknown device, a
    locked account) is refused before the password is checked; unknown emails alike."""
    now = utcnow()
    user = await session.scalar(select(User).where(col(User.email) == email))
    email_hash = email_key(email)
    known = await is_known_device(session=session, user_id=user.id if user else None, client=client)
    await refuse_if_throttled(
        session=session,
        email_hash=email_hash,
        client=client,
        known_device=known,
        throttling=throttling,
        now=now,
    )
    if not await passwords.verify(user.password_hash if user else None, password):
        await count_failure(
            session=session,
            email_hash=email_hash,
            client=client,
            known_device=known,
            throttling=throttling,
            now=now,
        )
        raise Unauthorized(INVALID_LOGIN, code="invalid-login", commit=True)
    assert user is not None
    await forget_client(
        session=session, email_hash=email_hash, user_id=user.id, client=client, now=now
    )
    await _rehash_if_needed(session, user, password, passwords)
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
        await _revoke_family(session, token, now, reason="refresh_reused")
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
    await _revoke_family(session, token, utcnow(), reason="logout")


async def _issue(
    session: AsyncSession,
    *,
    user: User,
    issuer: TokenIssuer,
    now: datetime,
    family_id: uuid.UUID | None = None,
) -> TokenPair:
    secret = new_refresh_token()
    family_id = family_id or new_id()
    session.add(
        RefreshToken(
            user_id=user.id,
            family_id=family_id,
            token_hash=hash_secret(secret),
            expires_at=now + issuer.refresh_ttl,
        )
    )
    roles = await roles_of(session=session, user_id=user.id)
    return TokenPair(
        access_token=issuer.access_token(
            user_id=user.id, roles=roles, now=now, session_id=family_id, tier=user.tier
        ),
        refresh_token=secret,
        expires_in=int(issuer.access_ttl.total_seconds()),
        refresh_expires_in=int(issuer.refresh_ttl.total_seconds()),
    )


async def _refresh_token(session: AsyncSession, secret: str) -> RefreshToken | None:
    query = select(RefreshToken).where(col(RefreshToken.token_hash) == hash_secret(secret))
    return await session.scalar(query)


async def _revoke_family(
    session: AsyncSession, token: RefreshToken, now: datetime, *, reason: str
) -> None:
    """Revoke the family of ``token`` and tell every service, which then refuses the
    access tokens of that session (their ``sid``) at once (ADR 0009). Announced even when
    the family was already revoked: a duplicate revocation changes nothing anywhere."""
    await session.execute(
        update(RefreshToken)
        .where(
            col(RefreshToken.family_id) == token.family_id, col(RefreshToken.revoked_at).is_(None)
        )
        .values(revoked_at=now)
    )
    revoked = SessionsRevoked(
        user_id=token.user_id, session_ids=[token.family_id], revoked_at=now, reason=reason
    )
    publish(session, revoked, actor=token.user_id)


async def _rehash_if_needed(
    session: AsyncSession, user: User, password: str, passwords: Passwords
) -> None:
    if user.password_hash is not None and passwords.needs_rehash(user.password_hash):
        user.password_hash = await passwords.hash(password)
        session.add(user)
