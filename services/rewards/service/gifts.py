"""Gifts of points between members (the "red envelope"): spent from the sender, credited
to the recipient at once, in one unit of work.

A gift is its two ledger entries (kind ``gift``, source ``rewards.gift``/<gift id>, roles
``sender`` and ``recipient``, each referring to the other member): both ledgers show it,
and that is all there is of it. Both accounts are locked in user-id order, so two members
gifting each other never deadlock; the sender's daily total (UTC day) is counted from the
ledger under the sender's lock, so concurrent gifts cannot pass the limit together.
"""

import uuid
from datetime import UTC, datetime, time

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from kit.api import idempotency
from kit.api.pagination import PageParams
from kit.ids import new_id
from kit.problems import Conflict, NotFound, Problem
from services.rewards.models import Account, Currency, EntryKind, LedgerEntry
from services.rewards.schemas import GiftCreate, GiftDirection, GiftPublic
from services.rewards.service import ledger
from services.rewards.service.ledger import Source
from services.rewards.service.wallet import NEWEST

GIFT = "rewards.gift"
SENDER, RECIPIENT = "sender", "recipient"


class GiftToSelf(Problem):
    status, code = 422, "gift-to-self"


class GiftLimit(Conflict):
    code = "gift-limit"


async def give(
    *,
    session: AsyncSession,
    sender_id: uuid.UUID,
    data: GiftCreate,
    daily_limit: int,
    now: datetime,
    idempotency_key: str | None,
) -> GiftPublic:
    """Give ``data.amount`` of the sender's spendable points to the recipient; a retry
    with the same ``idempotency_key`` answers the first gift and gives nothing more."""
    if data.recipient_id == sender_id:
        raise GiftToSelf("a gift goes to another member")
    record = None
    if idempotency_key is not None:
        record = await idempotency.claim(
            session,
            owner=sender_id,
            key=idempotency_key,
            request_hash=idempotency.fingerprint("gift", data.model_dump(mode="json")),
        )
        if record.status_code is not None:
            return GiftPublic.model_validate(record.body)
    _require_member(await session.get(Account, data.recipient_id))
    for user_id in sorted((sender_id, data.recipient_id)):
        locked = await ledger.lock_account(session=session, user_id=user_id)
        if user_id == data.recipient_id:
            _require_member(locked)
    given = await given_today(session=session, user_id=sender_id, now=now)
    if given + data.amount > daily_limit:
        raise GiftLimit(
            f"at most {daily_limit} points a day are given; {given} were today",
            daily_limit=daily_limit,
            given_today=given,
        )
    gift_id = new_id()
    await ledger.spend_points(
        session=session,
        user_id=sender_id,
        amount=data.amount,
        source=_source(gift_id, SENDER, data.recipient_id),
        at=now,
        kind=EntryKind.GIFT,
        note=data.message,
        created_by=sender_id,
    )
    await ledger.credit_points(
        session=session,
        user_id=data.recipient_id,
        amount=data.amount,
        source=_source(gift_id, RECIPIENT, sender_id),
        at=now,
        kind=EntryKind.GIFT,
        note=data.message,
        created_by=sender_id,
    )
    gift = GiftPublic(
        id=gift_id,
        direction=GiftDirection.SENT,
        sender_id=sender_id,
        recipient_id=data.recipient_id,
        amount=data.amount,
        message=data.message,
        created_at=now,
    )
    if record is not None:
        idempotency.remember(session, record, status_code=201, body=gift.model_dump(mode="json"))
    return gift


def _source(gift_id: uuid.UUID, role: str, other: uuid.UUID) -> Source:
    return Source(
        type=GIFT, id=str(gift_id), role=role, reference_type="member", reference_id=str(other)
    )


def _require_member(account: Account | None) -> None:
    if account is None or account.deleted_at is not None:
        raise NotFound("no such member")


async def given_today(*, session: AsyncSession, user_id: uuid.UUID, now: datetime) -> int:
    """The points the member gave away since the start of ``now``'s UTC day."""
    since = datetime.combine(now.astimezone(UTC).date(), time(), tzinfo=UTC)
    total = await session.scalar(
        select(func.coalesce(func.sum(-col(LedgerEntry.amount)), 0)).where(
            col(LedgerEntry.user_id) == user_id,
            col(LedgerEntry.source_type) == GIFT,
            col(LedgerEntry.role) == SENDER,
            col(LedgerEntry.created_at) >= since,
        )
    )
    return int(total or 0)


async def gifts(
    *, session: AsyncSession, user_id: uuid.UUID, page: PageParams
) -> tuple[list[GiftPublic], str | None]:
    """The gifts the member sent and received, newest first."""
    query = select(LedgerEntry).where(
        col(LedgerEntry.user_id) == user_id,
        col(LedgerEntry.currency) == Currency.POINTS,
        col(LedgerEntry.source_type) == GIFT,
    )
    found = (await session.scalars(NEWEST.paged(query, page))).all()
    entries, next_cursor = NEWEST.page(found, page, lambda entry: (entry.created_at, entry.id))
    return [_gift_of(entry) for entry in entries], next_cursor


def _gift_of(entry: LedgerEntry) -> GiftPublic:
    other = uuid.UUID(entry.reference_id or "")
    sent = entry.role == SENDER
    return GiftPublic(
        id=uuid.UUID(entry.source_id),
        direction=GiftDirection.SENT if sent else GiftDirection.RECEIVED,
        sender_id=entry.user_id if sent else other,
        recipient_id=other if sent else entry.user_id,
        amount=abs(entry.amount),
        message=entry.note,
        created_at=entry.created_at,
    )
