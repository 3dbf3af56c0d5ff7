"""Earning rules: what each announced contribution pays, within caps and budgets, and the
reversal of what a removed source earned; and the rules' management by staff.

A rule pays its amount for every source of its type and role while it is active
(``starts_at <= at < ends_at``). A credit that would take the member past a rule's daily
(UTC day) or monthly cap, or the rule past its budget, is skipped whole: a rule pays its
amount or nothing, never a part. Caps are counted in ``rule_usage`` by a conditional
upsert and budgets by a conditional ``UPDATE`` of the rule, both after the ledger entry is
written and before any balance moves (the ledger's ``admit``): a redelivered source writes
no entry and so consumes nothing, and a refused cap or budget deletes its entry and gives
back what it had counted. No savepoints: a like credited by two rules is about a dozen
statements. A reversal does not give the cap usage or the budget back (what was earned
that day stays counted).

Rules of one ``(source_type, role, currency)`` may not be active at the same time: the
ledger holds one entry per source, role and currency, so a second one could never pay.
"""

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, or_

from kit.api.pagination import Keyset, Order, PageParams
from kit.audit import record_action
from kit.auth import Principal
from kit.db import dialect_insert
from kit.problems import Conflict, NotFound, Problem
from services.rewards.models import Currency, Dimension, LedgerEntry, Rule, RuleUsage
from services.rewards.schemas import RuleCreate, RuleUpdate
from services.rewards.service import ledger
from services.rewards.service.ledger import Source

NEWEST = Keyset(Order(col(Rule.created_at), descending=True), Order(col(Rule.id), descending=True))


class OverlappingRule(Problem):
    status, code = 422, "overlapping-rule"


class CapBelowAmount(Problem):
    status, code = 422, "cap-below-amount"


class BudgetBelowUsed(Conflict):
    code = "budget-below-used"


class RuleNotActive(Conflict):
    code = "rule-not-active"


class _Refused(Exception):
    """A cap or budget refused a credit: its savepoint rolls back."""


async def earn(
    *,
    session: AsyncSession,
    user_id: uuid.UUID,
    source_type: str,
    source_id: str,
    role: str,
    reference_type: str | None,
    reference_id: str | None,
    at: datetime,
    held: bool = False,
) -> list[LedgerEntry]:
    """Credit what every rule of ``source_type`` and ``role`` active at ``at`` pays;
    the entries written (none for a redelivered source, a capped or spent rule). ``at``
    is the event's own time (its CloudEvent ``time``), not the delivery's: a redelivery
    is then judged by the same rules, caps and day as the first delivery. ``held``
    points stay pending until released (:func:`.ledger.release_held`); value is never
    held."""
    found = await session.scalars(
        select(Rule)
        .where(
            col(Rule.source_type) == source_type,
            col(Rule.role) == role,
            col(Rule.starts_at) <= at,
            or_(col(Rule.ends_at).is_(None), col(Rule.ends_at) > at),
        )
        .order_by(col(Rule.id))
    )
    source = Source(
        type=source_type,
        id=source_id,
        role=role,
        reference_type=reference_type,
        reference_id=reference_id,
    )
    written = []
    for rule in found.all():
        if not _can_pay(rule):
            continue
        try:
            entry = await _credit(session, rule, user_id, source, at, held)
        except _Refused:
            continue
        if entry is not None:
            written.append(entry)
    return written


def _can_pay(rule: Rule) -> bool:
    """Whether one credit fits the rule's caps and budget at all (a first use of a cap
    inserts its count unconditionally)."""
    limits = (rule.daily_cap, rule.monthly_cap, rule.budget)
    return all(limit is None or limit >= rule.amount for limit in limits)


async def _credit(
    session: AsyncSession, rule: Rule, user_id: uuid.UUID, source: Source, at: datetime, held: bool
) -> LedgerEntry | None:
    async def admit() -> None:
        await _count(session, rule, user_id, at)

    if rule.currency == Currency.POINTS:
        activates_at = at + timedelta(days=rule.pending_days) if rule.pending_days else None
        return await ledger.credit_points(
            session=session,
            user_id=user_id,
            amount=rule.amount,
            source=source,
            at=at,
            activates_at=activates_at,
            held=held,
            rule_id=rule.id,
            admit=admit,
        )
    return await ledger.credit_value(
        session=session,
        user_id=user_id,
        dimension=Dimension(rule.dimension or ""),
        amount=rule.amount,
        source=source,
        at=at,
        rule_id=rule.id,
        admit=admit,
    )


async def _count(session: AsyncSession, rule: Rule, user_id: uuid.UUID, at: datetime) -> None:
    """Count the credit against the rule's caps and budget; :class:`_Refused` past one,
    with what it had counted of the others given back (no savepoint: the rows it counted
    stay locked by this transaction, so nobody saw the count in between)."""
    periods = ((rule.daily_cap, f"d:{at:%Y-%m-%d}"), (rule.monthly_cap, f"m:{at:%Y-%m}"))
    counted: list[str] = []
    for cap, period in periods:
        if cap is None:
            continue
        insert = dialect_insert(session, RuleUsage).values(
            rule_id=rule.id, user_id=user_id, period=period, amount=rule.amount
        )
        usage = await session.scalar(
            insert.on_conflict_do_update(
                index_elements=["rule_id", "user_id", "period"],
                set_={"amount": col(RuleUsage.amount) + insert.excluded.amount},
                where=col(RuleUsage.amount) + insert.excluded.amount <= cap,
            ).returning(col(RuleUsage.amount))
        )
        if usage is None:
            await _uncount(session, rule, user_id, counted)
            raise _Refused
        counted.append(period)
    if rule.budget is not None:
        spent = await session.scalar(
            update(Rule)
            .where(
                col(Rule.id) == rule.id,
                col(Rule.budget_used) + rule.amount <= col(Rule.budget),
            )
            .values(budget_used=col(Rule.budget_used) + rule.amount)
            .returning(col(Rule.budget_used))
            .execution_options(synchronize_session=False)
        )
        if spent is None:
            await _uncount(session, rule, user_id, counted)
            raise _Refused


async def _uncount(
    session: AsyncSession, rule: Rule, user_id: uuid.UUID, periods: list[str]
) -> None:
    if periods:
        await session.execute(
            update(RuleUsage)
            .where(
                col(RuleUsage.rule_id) == rule.id,
                col(RuleUsage.user_id) == user_id,
                col(RuleUsage.period).in_(periods),
            )
            .values(amount=col(RuleUsage.amount) - rule.amount)
            .execution_options(synchronize_session=False)
        )


async def reverse_reference(
    *,
    session: AsyncSession,
    reference_type: str,
    reference_id: str,
    source_type: str,
    source_id: str,
    at: datetime,
) -> list[LedgerEntry]:
    """Reverse every credit earned through one post, event ... not reversed yet (points
    already spent become debt); the reversals written. Cap usage is not given back."""
    reversals = []
    for credit in await ledger.credits_for(
        session=session, reference_type=reference_type, reference_id=reference_id
    ):
        reversal = await ledger.reverse(
            session=session, entry=credit, source=Source(type=source_type, id=source_id), at=at
        )
        if reversal is not None:
            reversals.append(reversal)
    return reversals


# --- management ---------------------------------------------------------------------------


async def list_rules(*, session: AsyncSession, page: PageParams) -> tuple[list[Rule], str | None]:
    """Every rule, newest first."""
    found = (await session.scalars(NEWEST.paged(select(Rule), page))).all()
    return NEWEST.page(found, page, lambda rule: (rule.created_at, rule.id))


async def get_rule(*, session: AsyncSession, rule_id: uuid.UUID, lock: bool = False) -> Rule:
    query = select(Rule).where(col(Rule.id) == rule_id).execution_options(populate_existing=True)
    rule = await session.scalar(query.with_for_update() if lock else query)
    if rule is None:
        raise NotFound("no such rule")
    return rule


async def create_rule(
    *, session: AsyncSession, data: RuleCreate, principal: Principal, now: datetime
) -> Rule:
    rule = Rule(
        **data.model_dump(exclude={"starts_at"}),
        starts_at=data.starts_at or now,
        created_by=principal.user_id,
        created_at=now,
        updated_at=now,
    )
    _check_limits(rule)
    await _refuse_overlap(session, rule)
    session.add(rule)
    await session.flush()
    record_action(
        session,
        actor=principal.user_id,
        action="rule.created",
        subject=rule.id,
        **data.model_dump(mode="json"),
    )
    return rule


async def update_rule(
    *,
    session: AsyncSession,
    rule_id: uuid.UUID,
    data: RuleUpdate,
    principal: Principal,
    now: datetime,
) -> Rule:
    """Change a rule's amount, caps, end or budget (never below what it has paid)."""
    rule = await get_rule(session=session, rule_id=rule_id, lock=True)
    changes: dict[str, Any] = data.model_dump(exclude_unset=True)
    for field, value in changes.items():
        setattr(rule, field, value)
    if rule.budget is not None and rule.budget < rule.budget_used:
        raise BudgetBelowUsed(
            f"the rule has paid {rule.budget_used} already", budget_used=rule.budget_used
        )
    _check_limits(rule)
    if "ends_at" in changes:
        await _refuse_overlap(session, rule)
    rule.updated_at = now
    await session.flush()
    record_action(
        session,
        actor=principal.user_id,
        action="rule.updated",
        subject=rule.id,
        **data.model_dump(mode="json", exclude_unset=True),
    )
    return rule


async def end_rule(
    *, session: AsyncSession, rule_id: uuid.UUID, principal: Principal, now: datetime
) -> Rule:
    """End an active rule now: it pays for nothing announced from now on."""
    rule = await get_rule(session=session, rule_id=rule_id, lock=True)
    if rule.starts_at > now or (rule.ends_at is not None and rule.ends_at <= now):
        raise RuleNotActive("only an active rule is ended (change a future one's period)")
    rule.ends_at, rule.updated_at = now, now
    await session.flush()
    record_action(session, actor=principal.user_id, action="rule.ended", subject=rule.id)
    return rule


def _check_limits(rule: Rule) -> None:
    """422 for a period that ends before it starts, or a cap or budget that could never
    pay the amount."""
    if rule.ends_at is not None and rule.ends_at <= rule.starts_at:
        raise Problem("ends_at must be after starts_at", status=422, code="ends-before-start")
    for name in ("daily_cap", "monthly_cap", "budget"):
        cap = getattr(rule, name)
        if cap is not None and cap < rule.amount:
            raise CapBelowAmount(f"{name} ({cap}) is below the amount ({rule.amount})")


async def _refuse_overlap(session: AsyncSession, rule: Rule) -> None:
    """422 when another rule of the same source, role and currency is active at some
    moment of ``rule``'s period. Creations and changes of one such key are serialized."""
    key = f"rewards.rules:{rule.source_type}:{rule.role}:{rule.currency}"
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key}
        )
    query = select(col(Rule.id), col(Rule.name)).where(
        col(Rule.id) != rule.id,
        col(Rule.source_type) == rule.source_type,
        col(Rule.role) == rule.role,
        col(Rule.currency) == rule.currency,
        or_(col(Rule.ends_at).is_(None), col(Rule.ends_at) > rule.starts_at),
    )
    if rule.ends_at is not None:
        query = query.where(col(Rule.starts_at) < rule.ends_at)
    other = (await session.execute(query.limit(1))).first()
    if other is not None:
        raise OverlappingRule(
            f"rule {other.name!r} pays for {rule.source_type} ({rule.role}) in {rule.currency}"
            " in the same period",
            rule_id=str(other.id),
        )
