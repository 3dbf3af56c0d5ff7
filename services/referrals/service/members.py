"""Members and their codes: every account gets one stable, short, unguessable code, made
when identity announces the account or when the member first asks for it, whichever
comes first; a code resolves to its referrer's public name only.

A code is 8 characters from a 31-letter alphabet without look-alikes (about 8.5e11
codes, drawn with :mod:`secrets`); a drawn code that is taken is drawn again.
"""

import secrets
import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from kit.db import dialect_insert, utcnow
from kit.problems import NotFound, Problem
from services.referrals.models import CODE_ALPHABET, CODE_LENGTH, Member

CODE_DRAWS = 5


class MalformedCode(Problem):
    status, code = 422, "malformed-code"

    def __init__(self) -> None:
        super().__init__(
            f"a referral code is {CODE_LENGTH} letters and digits from {CODE_ALPHABET}"
        )


class UnknownCode(NotFound):
    code = "unknown-code"

    def __init__(self) -> None:
        super().__init__("no member has this referral code")


def draw_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalised_code(raw: str) -> str:
    """``raw`` as codes are stored (upper case), or :class:`MalformedCode`."""
    code = raw.strip().upper()
    if len(code) != CODE_LENGTH or any(letter not in CODE_ALPHABET for letter in code):
        raise MalformedCode()
    return code


async def ensure_member(*, session: AsyncSession, user_id: uuid.UUID) -> Member:
    """The member ``user_id`` with their code, made now if referrals had not seen them."""
    member = await session.get(Member, user_id)
    if member is not None:
        return member
    for _ in range(CODE_DRAWS):
        statement = (
            dialect_insert(session, Member)
            .values(user_id=user_id, code=draw_code(), created_at=utcnow())
            .on_conflict_do_nothing()
        )
        await session.execute(statement)
        member = await session.get(Member, user_id, populate_existing=True)
        if member is not None:
            return member
    raise RuntimeError("no free referral code after several draws")


async def record_registration(
    *,
    session: AsyncSession,
    user_id: uuid.UUID,
    display_name: str,
    device_hash: str | None,
    registered_at: datetime,
) -> Member:
    member = await ensure_member(session=session, user_id=user_id)
    member.display_name = None if member.deleted_at else display_name
    member.device_hash = device_hash
    member.registered_at = registered_at
    return member


async def by_code(*, session: AsyncSession, code: str, lock: bool = False) -> Member:
    """The living member whose code is ``code`` (any case), or a 422/404 problem; with
    ``lock``, their row is locked for the transaction (``SELECT ... FOR UPDATE``)."""
    query = select(Member).where(col(Member.code) == normalised_code(code))
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    member = await session.scalar(query)
    if member is None or member.deleted_at is not None:
        raise UnknownCode()
    return member


async def forget(*, session: AsyncSession, user_id: uuid.UUID, deleted_at: datetime) -> None:
    """A deleted account: its code stops resolving, its name and device are dropped."""
    member = await ensure_member(session=session, user_id=user_id)
    member.display_name = member.device_hash = None
    member.deleted_at = member.deleted_at or deleted_at
