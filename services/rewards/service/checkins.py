"""The daily check-in: at most once per local day (the member's time zone), a streak of
consecutive days and a bonus on every seventh; and the time zone itself, which changes at
most once in :data:`TIMEZONE_CHANGE_EVERY` so that hopping zones never makes a second day.

A check-in runs under the member's account lock (:func:`ledger.lock_account`), so taps of
one member are serialized; the ``checkins`` primary key, written in a savepoint, is the
backstop, and the credits' source (``rewards.checkin``, ``<user id>:<local date>``) is
unique in the ledger: one day credits once. A tap on a day already checked in answers
that day's check-in. What a day pays is whatever the earning rules of ``rewards.checkin``
and ``rewards.checkin.streak`` (role ``actor``) pay, within their caps and budgets, as for
any other contribution (:func:`.rules.earn`): a check-in campaign with a budget stops
paying when it is spent, and the day is still checked in.
"""

import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import cast, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import String
from sqlmodel import col

from kit.api.pagination import Keyset, Order, PageParams
from kit.problems import Conflict
from services.rewards.models import Account, Checkin, Currency
from services.rewards.service import ledger, rules

CHECKIN = "rewards.checkin"
STREAK = "rewards.checkin.streak"
ACTOR = "actor"
STREAK_EVERY = 7
TIMEZONE_CHANGE_EVERY = timedelta(days=30)

LATEST_FIRST = Keyset(
    # ISO dates sort as text, and a text cursor is one the page's keyset can carry
    Order(cast(col(Checkin.local_date), String), descending=True)
)


class TimezoneChangedRecently(Conflict):
    code = "timezone-changed-recently"


class AlreadyCheckedIn(Conflict):
    code = "already-checked-in"


def local_date_of(account: Account, now: datetime) -> date:
    return now.astimezone(ZoneInfo(account.timezone)).date()


async def check_in(
    *, session: AsyncSession, user_id: uuid.UUID, now: datetime
) -> tuple[Checkin, bool]:
    """Check in for today (local); ``(checkin, created)``, today's check-in again on a
    second tap."""
    account = await ledger.lock_account(session=session, user_id=user_id)
    today = local_date_of(account, now)
    earlier = await session.get(Checkin, (user_id, today), populate_existing=True)
    if earlier is not None:
        return earlier, False
    if account.last_checkin is not None and account.last_checkin > today:
        raise AlreadyCheckedIn(
            f"already checked in for {account.last_checkin.isoformat()} (another time zone)",
            last_checkin=account.last_checkin.isoformat(),
        )
    yesterday = await session.get(Checkin, (user_id, today - timedelta(days=1)))
    streak = yesterday.streak + 1 if yesterday is not None else 1
    checkin = Checkin(
        user_id=user_id,
        local_date=today,
        timezone=account.timezone,
        streak=streak,
        points=0,
        bonus=0,
        created_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(checkin)
    except IntegrityError:
        winner = await session.get(Checkin, (user_id, today), populate_existing=True)
        assert winner is not None
        return winner, False
    day = f"{user_id}:{today.isoformat()}"
    checkin.points = await _earn(session, user_id, CHECKIN, day, now)
    if streak % STREAK_EVERY == 0:
        checkin.bonus = await _earn(session, user_id, STREAK, day, now)
        checkin.points += checkin.bonus
    account.streak, account.last_checkin, account.updated_at = streak, today, now
    await session.flush()
    return checkin, True


async def _earn(
    session: AsyncSession, user_id: uuid.UUID, source_type: str, day: str, now: datetime
) -> int:
    """Credit what the rules of ``source_type`` pay for the day; the points credited."""
    entries = await rules.earn(
        session=session,
        user_id=user_id,
        source_type=source_type,
        source_id=day,
        role=ACTOR,
        reference_type="checkin",
        reference_id=day,
        at=now,
    )
    return sum(entry.amount for entry in entries if entry.currency == Currency.POINTS)


async def checkins(
    *, session: AsyncSession, user_id: uuid.UUID, page: PageParams
) -> tuple[list[Checkin], str | None]:
    """The member's check-ins, latest day first."""
    query = select(Checkin).where(col(Checkin.user_id) == user_id)
    found = (await session.scalars(LATEST_FIRST.paged(query, page))).all()
    return LATEST_FIRST.page(found, page, lambda checkin: (checkin.local_date.isoformat(),))


async def set_timezone(
    *, session: AsyncSession, user_id: uuid.UUID, timezone: str, now: datetime
) -> Account:
    """Move the member's day to ``timezone``; the same zone again changes nothing, another
    one within :data:`TIMEZONE_CHANGE_EVERY` of the last change is a 409."""
    account = await ledger.lock_account(session=session, user_id=user_id)
    if account.timezone == timezone:
        return account
    next_change = next_change_at(account)
    if next_change is not None and now < next_change:
        raise TimezoneChangedRecently(
            f"the time zone changes at most once in {TIMEZONE_CHANGE_EVERY.days} days; "
            f"next from {next_change.isoformat()}",
            next_change_at=next_change.isoformat(),
        )
    account.timezone, account.timezone_changed_at, account.updated_at = timezone, now, now
    await session.flush()
    return account


def next_change_at(account: Account) -> datetime | None:
    if account.timezone_changed_at is None:
        return None
    return account.timezone_changed_at + TIMEZONE_CHANGE_EVERY
