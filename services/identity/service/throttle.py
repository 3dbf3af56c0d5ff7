"""Login throttling that strangers cannot turn against an account's owner.

Two counters, both keyed by the email's SHA-256 whether or not an account has that email
(so the answers never tell which emails are registered):

* **Per account and client** (:class:`~services.identity.models.LoginClientThrottle`): the
  client is the caller's address and, when sent, its device id (``X-Device-Id``); a failure
  counts against both. After ``free_failures`` failures, each further attempt of that pair
  waits ``base_delay · 2^(failures - free_failures)``, at most ``max_delay`` (429 with
  ``Retry-After``, before the password is checked). The pair is forgotten after a success
  or after ``client_window`` without a failure.
* **Per account** (:class:`~services.identity.models.LoginThrottle`): ``account_max_failures``
  failures from all clients, with no gap of ``account_window``, lock the account for
  ``account_window`` — except for a *known device*: a device id that logged in to the
  account before. A known device is throttled only by its own counter, so the owner on
  their phone is never locked out by failures from elsewhere.

Counting is one conditional upsert per counter, so concurrent failures all count. Stale rows
are swept on every failure.
"""

import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, delete, literal, null, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from kit.db import UTCDateTime, dialect_insert, upsert
from kit.problems import TooManyRequests
from services.identity.models import KnownDevice, LoginClientThrottle, LoginThrottle
from services.identity.tokens import hash_secret


@dataclass(frozen=True)
class Throttling:
    free_failures: int = 5
    base_delay: timedelta = timedelta(seconds=30)
    max_delay: timedelta = timedelta(minutes=15)
    client_window: timedelta = timedelta(hours=1)
    account_max_failures: int = 100
    account_window: timedelta = timedelta(hours=1)

    def delays(self) -> list[tuple[int, timedelta]]:
        """``(failures, delay)`` steps, from the longest: at ``failures`` or more, ``delay``."""
        steps: list[tuple[int, timedelta]] = []
        extra = 0
        while True:
            delay = self.base_delay * 2**extra
            if delay >= self.max_delay:
                steps.append((self.free_failures + extra, self.max_delay))
                return steps[::-1]
            steps.append((self.free_failures + extra, delay))
            extra += 1


@dataclass(frozen=True)
class LoginClient:
    """Who is trying: the caller's address (as the gateway forwarded it) and device id."""

    address: str | None = None
    device_id: str | None = None

    def keys(self) -> list[str]:
        """The client counters a failure counts against (hashed, never stored plain)."""
        keys = [hash_secret(f"address:{self.address or 'unknown'}")]
        if self.device_id is not None:
            keys.append(self.device_key())
        return keys

    def device_key(self) -> str:
        return hash_secret(f"device:{self.device_id}")


def email_key(email: str) -> str:
    return hash_secret(email)


async def is_known_device(
    *, session: AsyncSession, user_id: uuid.UUID | None, client: LoginClient
) -> bool:
    """Whether the client's device id logged in to this account before."""
    if user_id is None or client.device_id is None:
        return False
    found = await session.get(KnownDevice, (user_id, hash_secret(client.device_id)))
    return found is not None


async def refuse_if_throttled(
    *,
    session: AsyncSession,
    email_hash: str,
    client: LoginClient,
    known_device: bool,
    throttling: Throttling,
    now: datetime,
) -> None:
    """429 when this client (or, from an unknown device, the account) must wait."""
    keys = [client.device_key()] if known_device else client.keys()
    blocked = await session.scalar(
        select(col(LoginClientThrottle.blocked_until))
        .where(
            col(LoginClientThrottle.email_hash) == email_hash,
            col(LoginClientThrottle.client_hash).in_(keys),
            col(LoginClientThrottle.blocked_until) > now,
        )
        .order_by(col(LoginClientThrottle.blocked_until).desc())
        .limit(1)
    )
    if blocked is None and not known_device:
        account = await session.get(LoginThrottle, email_hash)
        if account is not None and account.locked_until is not None and account.locked_until > now:
            blocked = account.locked_until
    if blocked is not None:
        retry_after = max(1, math.ceil((blocked - now).total_seconds()))
        raise TooManyRequests("too many failed logins", retry_after=retry_after)


async def count_failure(
    *,
    session: AsyncSession,
    email_hash: str,
    client: LoginClient,
    known_device: bool,
    throttling: Throttling,
    now: datetime,
) -> None:
    """Count one failure against the client's counters and, unless it came from a known
    device, against the account's ceiling; each an atomic upsert. Sweep what is stale."""
    keys = [client.device_key()] if known_device else client.keys()
    for key in keys:
        await _count_client_failure(session, email_hash, key, throttling, now)
    if not known_device:
        await _count_account_failure(session, email_hash, throttling, now)
    await session.execute(
        delete(LoginClientThrottle).where(
            col(LoginClientThrottle.last_failed_at) < now - throttling.client_window,
            or_(
                col(LoginClientThrottle.blocked_until).is_(None),
                col(LoginClientThrottle.blocked_until) < now,
            ),
        )
    )
    await session.execute(
        delete(LoginThrottle).where(
            col(LoginThrottle.last_failed_at) < now - throttling.account_window,
            or_(col(LoginThrottle.locked_until).is_(None), col(LoginThrottle.locked_until) < now),
        )
    )


async def forget_client(
    *,
    session: AsyncSession,
    email_hash: str,
    user_id: uuid.UUID,
    client: LoginClient,
    now: datetime,
) -> None:
    """After a successful login: this client's failures are forgotten, its device known."""
    await session.execute(
        delete(LoginClientThrottle).where(
            col(LoginClientThrottle.email_hash) == email_hash,
            col(LoginClientThrottle.client_hash).in_(client.keys()),
        )
    )
    if client.device_id is not None:
        values = {
            "user_id": user_id,
            "device_hash": hash_secret(client.device_id),
            "last_login_at": now,
        }
        await session.execute(
            upsert(
                session,
                KnownDevice,
                values,
                key=["user_id", "device_hash"],
                update=["last_login_at"],
            )
        )


async def _count_client_failure(
    session: AsyncSession, email_hash: str, client_hash: str, throttling: Throttling, now: datetime
) -> None:
    table = LoginClientThrottle
    first = dialect_insert(session, table).values(
        email_hash=email_hash,
        client_hash=client_hash,
        failed_logins=1,
        last_failed_at=now,
        blocked_until=_blocked_until(1, throttling, now),
    )
    stale = col(table.last_failed_at) < now - throttling.client_window
    failures: ColumnElement[int] = case((stale, 1), else_=col(table.failed_logins) + 1)
    await session.execute(
        first.on_conflict_do_update(
            index_elements=["email_hash", "client_hash"],
            set_={
                "failed_logins": failures,
                "last_failed_at": now,
                "blocked_until": _blocked_until(failures, throttling, now),
            },
        )
    )


def _blocked_until(
    failures: ColumnElement[int] | int, throttling: Throttling, now: datetime
) -> Any:
    """``now + delay(failures)`` as a SQL ``CASE`` over the delay steps (no ``power()`` in
    SQLite); ``None`` below the free failures."""
    if isinstance(failures, int):
        return next((now + d for at, d in throttling.delays() if failures >= at), None)
    whens = [(failures >= at, _at(now + delay)) for at, delay in throttling.delays()]
    return case(*whens, else_=null())


def _at(moment: datetime) -> ColumnElement[datetime]:
    return literal(moment, UTCDateTime())


async def _count_account_failure(
    session: AsyncSession, email_hash: str, throttling: Throttling, now: datetime
) -> None:
    table = LoginThrottle
    locks = throttling.account_max_failures <= 1
    first = dialect_insert(session, table).values(
        email_hash=email_hash,
        failed_logins=0 if locks else 1,
        last_failed_at=now,
        locked_until=now + throttling.account_window if locks else None,
    )
    stale = or_(
        col(table.last_failed_at).is_(None),
        col(table.last_failed_at) < now - throttling.account_window,
    )
    failures: ColumnElement[int] = case((stale, 1), else_=col(table.failed_logins) + 1)
    reached = failures >= throttling.account_max_failures
    await session.execute(
        first.on_conflict_do_update(
            index_elements=["email_hash"],
            set_={
                "failed_logins": case((reached, 0), else_=failures),
                "locked_until": case(
                    (reached, _at(now + throttling.account_window)), else_=col(table.locked_until)
                ),
                "last_failed_at": now,
            },
        )
    )
