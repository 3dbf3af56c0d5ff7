"""The two ledgers: every movement of points and community value, and the balances they add
up to (see :mod:`services.rewards.models` for the invariant).

Every function here locks the member's account row first (``SELECT ... FOR UPDATE``), so
all movements of one member are serialized; a function touching two members (a gift)
locks them in id order, and each account is locked once per transaction. An entry is
written under its source's unique key (``INSERT ... ON CONFLICT DO NOTHING``): a second
delivery of the same source finds the first entry and moves nothing (the credit returns
``None``). A rule's caps and budget are counted between the entry and the balances
(``admit``), so a refused credit deletes its entry and has moved nothing.

Points:

* a credit is a *lot*: active at once (first repaying any debt) or pending until
  ``activates_at``; it expires at ``expires_at`` (:func:`expiry_of`);
* a *held* lot is pending with no ``activates_at``: no time makes it spendable
  (:func:`activate_due` passes it by), only a decision about what earned it does
  (:func:`release_held`, e.g. a referral approved after its refund window), or its
  reversal cancels it. It counts in ``pending_points`` like any pending lot;
* a spend takes active lots oldest-expiring first and fails with :class:`NotEnoughPoints`
  when the spendable balance is short (nothing is written);
* a reversal takes back what one entry earned: a pending lot is cancelled; active points
  are taken from that lot, then from the others, and what was already spent becomes
  ``debt``, repaid from the next credits and shown to the member; what of it expired is
  not taken back (a credit that wholly expired is left as it is). Its source id is the
  reversing source's id and the reversed entry's (one removal may reverse several credits
  of one member);
* an expiry takes what is left of one active lot once its ``expires_at`` passed, under
  the source ``rewards.expiry`` / the lot's id: once, however often the job runs.
"""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from kit.db import dialect_insert
from kit.problems import Conflict
from services.rewards.models import (
    SOURCE_MAX,
    Account,
    Currency,
    Dimension,
    EntryKind,
    LedgerEntry,
    LotState,
    PointLot,
)
from services.rewards.service import tiers

VALUE_COLUMNS = {
    Dimension.INTERACTION: "value_interaction",
    Dimension.DEVELOPMENT: "value_development",
    Dimension.EFFICIENCY: "value_efficiency",
    Dimension.SPECIAL: "value_special",
}


class NotEnoughPoints(Conflict):
    code = "not-enough-points"


@dataclass(frozen=True)
class Source:
    """Where a movement comes from: what the app links to for "why did I get this"."""

    type: str
    """The CloudEvent type, or the action (``admin.grant``, ``mall.order``, ``checkin``)."""
    id: str
    """The CloudEvent id, or the id of the order, grant, check-in ..."""
    role: str = "actor"
    """Which participant of the source the entry is for (``author``, ``referrer`` ...)."""
    reference_type: str | None = None
    reference_id: str | None = None


EXPIRY_SOURCE = "rewards.expiry"


def expiry_of(earned_at: datetime) -> datetime:
    """The default policy: the end of the second calendar year after the year earned."""
    return datetime(earned_at.year + 3, 1, 1, tzinfo=UTC)


def quarter_of(at: datetime) -> int:
    return at.year * 10 + (at.month - 1) // 3 + 1


LOCKED_ACCOUNTS = "rewards.locked_accounts"
"""``session.info`` key: the accounts this transaction locked (a lock lasts until it ends)."""


async def lock_account(*, session: AsyncSession, user_id: uuid.UUID) -> Account:
    """The member's account (created when new), locked until the transaction ends; locked
    once per transaction (a consumed event credits its member by several rules)."""
    locked: dict[uuid.UUID, Account] = session.info.setdefault(LOCKED_ACCOUNTS, {})
    if user_id in locked:
        return locked[user_id]
    await session.execute(
        dialect_insert(session, Account).values(user_id=user_id).on_conflict_do_nothing()
    )
    account = await session.scalar(
        select(Account)
        .where(col(Account.user_id) == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert account is not None
    locked[user_id] = account
    return account


Admission = Callable[[], Awaitable[None]]
"""Awaited once an entry is recorded, before any balance moves: a rule's caps and budget
(:mod:`.rules`). What it raises un-records the entry and propagates."""


async def _record(
    session: AsyncSession, entry: LedgerEntry, admit: Admission | None = None
) -> bool:
    """Write ``entry``; ``False`` when its source already wrote one (a redelivery). One
    ``INSERT ... ON CONFLICT DO NOTHING``, no savepoint: the source's unique key decides."""
    values = entry.model_dump(exclude_none=True)
    written = await session.scalar(
        dialect_insert(session, LedgerEntry)
        .values(**values)
        .on_conflict_do_nothing()
        .returning(col(LedgerEntry.id))
    )
    if written is None:
        return False
    if admit is not None:
        try:
            await admit()
        except Exception:
            await session.execute(delete(LedgerEntry).where(col(LedgerEntry.id) == entry.id))
            raise
    return True


async def credit_points(
    *,
    session: AsyncSession,
    user_id: uuid.UUID,
    amount: int,
    source: Source,
    at: datetime,
    kind: EntryKind = EntryKind.EARN,
    activates_at: datetime | None = None,
    held: bool = False,
    rule_id: uuid.UUID | None = None,
    note: str | None = None,
    created_by: uuid.UUID | None = None,
    admit: Admission | None = None,
) -> LedgerEntry | None:
    """Credit ``amount`` points (a lot), pending until ``activates_at`` when it is later,
    or ``held`` (pending until :func:`release_held`, whatever ``activates_at`` says)."""
    if amount <= 0:
        raise ValueError("a credit is positive")
    account = await lock_account(session=session, user_id=user_id)
    pending = held or (activates_at is not None and activates_at > at)
    repaid = 0 if pending else min(account.debt, amount)
    entry = LedgerEntry(
        user_id=user_id,
        currency=Currency.POINTS,
        amount=amount,
        kind=kind,
        source_type=source.type,
        source_id=source.id,
        role=source.role,
        reference_type=source.reference_type,
        reference_id=source.reference_id,
        rule_id=rule_id,
        debt_repaid=repaid,
        note=note,
        created_by=created_by,
        created_at=at,
    )
    if not await _record(session, entry, admit):
        return None
    lot_amount = amount - repaid
    if lot_amount > 0:
        session.add(
            PointLot(
                user_id=user_id,
                entry_id=entry.id,
                amount=lot_amount,
                remaining=lot_amount,
                state=LotState.PENDING if pending else LotState.ACTIVE,
                activates_at=activates_at if pending and not held else None,
                expires_at=expiry_of(at),
                created_at=at,
            )
        )
    if pending:
        account.pending_points += amount
    else:
        account.points += lot_amount
        account.debt -= repaid
    account.updated_at = at
    await session.flush()
    return entry


async def credit_value(
    *,
    session: AsyncSession,
    user_id: uuid.UUID,
    dimension: Dimension,
    amount: int,
    source: Source,
    at: datetime,
    kind: EntryKind = EntryKind.EARN,
    rule_id: uuid.UUID | None = None,
    note: str | None = None,
    created_by: uuid.UUID | None = None,
    admit: Admission | None = None,
) -> LedgerEntry | None:
    """Credit community value in ``dimension`` (also this year's and quarter's totals)."""
    if amount <= 0:
        raise ValueError("a credit is positive")
    account = await lock_account(session=session, user_id=user_id)
    entry = LedgerEntry(
        user_id=user_id,
        currency=Currency.VALUE,
        dimension=dimension,
        amount=amount,
        kind=kind,
        source_type=source.type,
        source_id=source.id,
        role=source.role,
        reference_type=source.reference_type,
        reference_id=source.reference_id,
        rule_id=rule_id,
        note=note,
        created_by=created_by,
        created_at=at,
    )
    if not await _record(session, entry, admit):
        return None
    await _move_value(session, account, dimension, amount, at)
    await session.flush()
    return entry


async def _move_value(
    session: AsyncSession, account: Account, dimension: Dimension, amount: int, at: datetime
) -> None:
    """Move the value (and this year's and quarter's), then the tier that follows it."""
    column = VALUE_COLUMNS[dimension]
    setattr(account, column, getattr(account, column) + amount)
    if account.value_year != at.year:
        account.value_year, account.year_value = at.year, 0
    account.year_value = max(account.year_value + amount, 0)
    if account.value_quarter != quarter_of(at):
        account.value_quarter, account.quarter_value = quarter_of(at), 0
    account.quarter_value = max(account.quarter_value + amount, 0)
    account.updated_at = at
    await tiers.after_value_change(session=session, account=account, at=at)


def community_value(account: Account) -> int:
    return sum(getattr(account, column) for column in VALUE_COLUMNS.values())


async def spend_points(
    *,
    session: AsyncSession,
    user_id: uuid.UUID,
    amount: int,
    source: Source,
    at: datetime,
    kind: EntryKind = EntryKind.SPEND,
    note: str | None = None,
    created_by: uuid.UUID | None = None,
) -> LedgerEntry | None:
    """Spend ``amount`` active points, oldest-expiring lots first (409 when short)."""
    if amount <= 0:
        raise ValueError("a spend is positive")
    account = await lock_account(session=session, user_id=user_id)
    if account.points < amount:
        raise NotEnoughPoints(
            f"{amount} points needed, {account.points} spendable",
            needed=amount,
            spendable=account.points,
        )
    entry = LedgerEntry(
        user_id=user_id,
        currency=Currency.POINTS,
        amount=-amount,
        kind=kind,
        source_type=source.type,
        source_id=source.id,
        role=source.role,
        reference_type=source.reference_type,
        reference_id=source.reference_id,
        note=note,
        created_by=created_by,
        created_at=at,
    )
    if not await _record(session, entry):
        return None
    await _take_from_lots(session, user_id, amount)
    account.points -= amount
    account.updated_at = at
    await session.flush()
    return entry


async def _take_from_lots(
    session: AsyncSession, user_id: uuid.UUID, amount: int, first: PointLot | None = None
) -> None:
    """Take ``amount`` (at most the account's points) from its active lots: ``first``,
    then the oldest-expiring."""
    lots = list(
        (
            await session.scalars(
                select(PointLot)
                .where(
                    col(PointLot.user_id) == user_id,
                    col(PointLot.state) == LotState.ACTIVE,
                    col(PointLot.remaining) > 0,
                )
                .order_by(col(PointLot.expires_at), col(PointLot.created_at), col(PointLot.id))
            )
        ).all()
    )
    if first is not None and first in lots:
        lots.remove(first)
        lots.insert(0, first)
    taken = 0
    for lot in lots:
        if taken == amount:
            break
        part = min(lot.remaining, amount - taken)
        lot.remaining -= part
        taken += part
        if lot.remaining == 0:
            lot.state = LotState.SPENT


async def reverse(
    *,
    session: AsyncSession,
    entry: LedgerEntry,
    source: Source,
    at: datetime,
    note: str | None = None,
    created_by: uuid.UUID | None = None,
) -> LedgerEntry | None:
    """Take back what ``entry`` (a credit) gave, less what of it expired; ``None`` when it
    was reversed already or wholly expired."""
    if entry.amount <= 0:
        raise ValueError("only credits are reversed")
    account = await lock_account(session=session, user_id=entry.user_id)
    reversal = LedgerEntry(
        user_id=entry.user_id,
        currency=entry.currency,
        dimension=entry.dimension,
        amount=-entry.amount,
        kind=EntryKind.REVERSE,
        source_type=source.type,
        source_id=f"{source.id[: SOURCE_MAX - 37]}:{entry.id}",
        role=f"reverse:{entry.role}"[:20],
        reference_type=entry.reference_type,
        reference_id=entry.reference_id,
        reverses_id=entry.id,
        note=note,
        created_by=created_by,
        created_at=at,
    )
    if entry.currency == Currency.VALUE:
        if not await _record(session, reversal):
            return None
        await _move_value(session, account, Dimension(entry.dimension or ""), -entry.amount, at)
        await session.flush()
        return reversal
    lot = await session.scalar(
        select(PointLot).where(col(PointLot.entry_id) == entry.id).with_for_update()
    )
    if lot is not None and lot.state == LotState.PENDING:
        if not await _record(session, reversal):
            return None
        lot.state, lot.remaining = LotState.CANCELLED, 0
        account.pending_points -= entry.amount
    else:
        expired = await _expired_of(session, lot)
        if expired == entry.amount:
            return None
        reversal.amount = expired - entry.amount
        owed = entry.amount - entry.debt_repaid - expired
        taken = min(owed, account.points)  # the account's points are its active lots' sum
        reversal.debt_added = owed - taken + entry.debt_repaid
        if not await _record(session, reversal):
            return None
        await _take_from_lots(session, entry.user_id, taken, first=lot)
        account.points -= taken
        account.debt += reversal.debt_added
    account.updated_at = at
    await session.flush()
    return reversal


async def _expired_of(session: AsyncSession, lot: PointLot | None) -> int:
    """What expired of ``lot``: not taken back by a reversal (the member never had it)."""
    if lot is None or lot.state != LotState.EXPIRED:
        return 0
    expired = await session.scalar(
        select(col(LedgerEntry.amount)).where(
            col(LedgerEntry.user_id) == lot.user_id,
            col(LedgerEntry.currency) == Currency.POINTS,
            col(LedgerEntry.source_type) == EXPIRY_SOURCE,
            col(LedgerEntry.source_id) == str(lot.id),
            col(LedgerEntry.role) == "actor",
        )
    )
    return -(expired or 0)


async def credits_for(
    *, session: AsyncSession, reference_type: str, reference_id: str
) -> list[LedgerEntry]:
    """The credits earned through one post, event, referral ... not yet reversed."""
    reversed_ids = select(col(LedgerEntry.reverses_id)).where(
        col(LedgerEntry.reverses_id).is_not(None),
        col(LedgerEntry.reference_id) == reference_id,
    )
    found = await session.scalars(
        select(LedgerEntry)
        .where(
            col(LedgerEntry.reference_type) == reference_type,
            col(LedgerEntry.reference_id) == reference_id,
            col(LedgerEntry.amount) > 0,
            col(LedgerEntry.id).not_in(reversed_ids),
        )
        .order_by(col(LedgerEntry.user_id), col(LedgerEntry.created_at), col(LedgerEntry.id))
    )
    return list(found.all())


async def points_sum(*, session: AsyncSession, user_id: uuid.UUID) -> int:
    """The sum of the member's points entries (= points + pending - debt)."""
    total = await session.scalar(
        select(func.coalesce(func.sum(col(LedgerEntry.amount)), 0)).where(
            col(LedgerEntry.user_id) == user_id, col(LedgerEntry.currency) == Currency.POINTS
        )
    )
    return int(total or 0)


async def activate_due(*, session: AsyncSession, now: datetime, limit: int = 500) -> int:
    """Make pending lots whose window ended spendable (repaying debt first); safe to run
    twice and in two replicas at once (each lot moves under its account's lock, once).
    Held lots (no ``activates_at``) are not due."""
    due = (
        await session.execute(
            select(col(PointLot.id), col(PointLot.user_id))
            .where(col(PointLot.state) == LotState.PENDING, col(PointLot.activates_at) <= now)
            .order_by(col(PointLot.user_id), col(PointLot.id))
            .limit(limit)
        )
    ).all()
    moved = [await _activate(session, lot_id, user_id, now) for lot_id, user_id in due]
    await session.flush()
    return sum(moved)


async def release_held(
    *, session: AsyncSession, reference_type: str, reference_id: str, at: datetime
) -> int:
    """Make the held lots earned through one referral ... spendable (repaying debt first);
    how many moved. Idempotent: a released lot is active, a cancelled one stays so."""
    held = (
        await session.execute(
            select(col(PointLot.id), col(PointLot.user_id))
            .join(LedgerEntry, col(LedgerEntry.id) == col(PointLot.entry_id))
            .where(
                col(LedgerEntry.reference_type) == reference_type,
                col(LedgerEntry.reference_id) == reference_id,
                col(PointLot.state) == LotState.PENDING,
                col(PointLot.activates_at).is_(None),
            )
            .order_by(col(PointLot.user_id), col(PointLot.id))
        )
    ).all()
    moved = [await _activate(session, lot_id, user_id, at) for lot_id, user_id in held]
    await session.flush()
    return sum(moved)


async def _activate(
    session: AsyncSession, lot_id: uuid.UUID, user_id: uuid.UUID, at: datetime
) -> bool:
    """Move one pending lot to active under its account's lock, repaying debt first;
    ``False`` when it is not pending (any more)."""
    account = await lock_account(session=session, user_id=user_id)
    result = await session.execute(
        update(PointLot)
        .where(col(PointLot.id) == lot_id, col(PointLot.state) == LotState.PENDING)
        .values(state=LotState.ACTIVE)
        .returning(col(PointLot.remaining))
    )
    remaining = result.scalar_one_or_none()
    if remaining is None:
        return False
    repaid = min(account.debt, remaining)
    if repaid:
        await session.execute(
            update(PointLot)
            .where(col(PointLot.id) == lot_id)
            .values(
                remaining=remaining - repaid,
                state=LotState.ACTIVE if remaining > repaid else LotState.SPENT,
            )
        )
    account.pending_points -= remaining
    account.points += remaining - repaid
    account.debt -= repaid
    account.updated_at = at
    return True


async def expire_lot(
    *, session: AsyncSession, lot_id: uuid.UUID, at: datetime
) -> LedgerEntry | None:
    """Expire what is left of one active lot whose ``expires_at`` passed; ``None`` when
    there is nothing (left) to expire: it was spent, expired already, or is not due."""
    user_id = await session.scalar(select(col(PointLot.user_id)).where(col(PointLot.id) == lot_id))
    if user_id is None:
        return None
    account = await lock_account(session=session, user_id=user_id)
    lot = await session.scalar(
        select(PointLot)
        .where(col(PointLot.id) == lot_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert lot is not None
    if lot.state != LotState.ACTIVE or lot.remaining == 0 or lot.expires_at > at:
        return None
    entry = LedgerEntry(
        user_id=user_id,
        currency=Currency.POINTS,
        amount=-lot.remaining,
        kind=EntryKind.EXPIRE,
        source_type=EXPIRY_SOURCE,
        source_id=str(lot.id),
        created_at=at,
    )
    if not await _record(session, entry):
        return None
    account.points -= lot.remaining
    account.updated_at = at
    lot.remaining, lot.state = 0, LotState.EXPIRED
    await session.flush()
    return entry
