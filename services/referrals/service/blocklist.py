"""The blocklist: phones (kept by their hash only) and referrers whose referrals are
refused (share form, claims) or held for staff (registrations); see :mod:`.checks`."""

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from kit.api.pagination import Keyset, Order, PageParams
from kit.audit import record_action
from kit.db import dialect_insert, utcnow
from kit.problems import Conflict, NotFound, Problem
from services.referrals.models import BlockedEntry, BlockKind
from services.referrals.service.phones import PhoneBook, masked

KEYSET = Keyset(Order(col(BlockedEntry.created_at), descending=True), Order(col(BlockedEntry.id)))


class AlreadyBlocked(Conflict):
    code = "already-blocked"

    def __init__(self) -> None:
        super().__init__("this phone or referrer is on the blocklist already")


class NotAReferrer(Problem):
    status, code = 422, "invalid-referrer"

    def __init__(self) -> None:
        super().__init__("a blocked referrer is named by their account id (a UUID)")


class EntryNotFound(NotFound):
    code = "blocklist-entry-not-found"

    def __init__(self) -> None:
        super().__init__("no such blocklist entry")


def _value_and_label(kind: BlockKind, value: str, phones: PhoneBook) -> tuple[str, str]:
    if kind == BlockKind.PHONE:
        phone = phones.normalise(value)
        return phones.hash(phone), masked(phone)
    try:
        referrer = str(uuid.UUID(value))
    except ValueError as exc:
        raise NotAReferrer() from exc
    return referrer, referrer


async def add(
    *,
    session: AsyncSession,
    kind: BlockKind,
    value: str,
    reason: str,
    by: uuid.UUID,
    phones: PhoneBook,
) -> BlockedEntry:
    stored, label = _value_and_label(kind, value, phones)
    entry = BlockedEntry(
        kind=kind, value=stored, label=label, reason=reason, created_by=by, created_at=utcnow()
    )
    inserted = await session.execute(
        dialect_insert(session, BlockedEntry)
        .values(**entry.model_dump())
        .on_conflict_do_nothing()
        .returning(col(BlockedEntry.id))
    )
    if inserted.first() is None:
        raise AlreadyBlocked()
    record_action(
        session,
        actor=by,
        action="blocklist.added",
        subject=entry.id,
        kind=kind,
        label=label,
        reason=reason,
    )
    return entry


async def remove(*, session: AsyncSession, entry_id: uuid.UUID, by: uuid.UUID) -> None:
    entry = await session.get(BlockedEntry, entry_id)
    if entry is None:
        raise EntryNotFound()
    await session.delete(entry)
    record_action(
        session,
        actor=by,
        action="blocklist.removed",
        subject=entry_id,
        kind=entry.kind,
        label=entry.label,
    )


async def page(
    *, session: AsyncSession, kind: BlockKind | None, params: PageParams
) -> tuple[Sequence[BlockedEntry], str | None]:
    query = select(BlockedEntry)
    if kind is not None:
        query = query.where(col(BlockedEntry.kind) == kind)
    rows = (await session.scalars(KEYSET.paged(query, params))).all()
    return KEYSET.page(rows, params, lambda entry: (entry.created_at, entry.id))
