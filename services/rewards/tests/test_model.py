"""A Hypothesis state machine against the real PostgreSQL database: one member per example
earns through capped rules and a budgeted one (redeliveries included), spends, is
refunded, has sources reversed (spent points become debt, repaid by the next credits) and
points expired, while a small Python model predicts every balance; after each step the
balances equal the model's and the ledger adds up.

The machine is synchronous, so it runs in a thread and hands each step to the test's
event loop (where the database's pool lives)."""

import asyncio
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, TypeVar

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from kit.db import Database
from kit.testing.services import rows
from services.rewards.models import Currency, Dimension, EntryKind, Rule
from services.rewards.service import jobs, ledger, rules
from services.rewards.service.ledger import NotEnoughPoints, Source
from services.rewards.tests.support import assert_ledger_adds_up

T = TypeVar("T")
START = datetime(2020, 1, 1, 8, tzinfo=UTC)
LAST = datetime(2028, 6, 1, tzinfo=UTC)
"""The clock stays before other tests' points expire (expiry is one job for everyone)."""
CAPPED = (5, 5, 15)
"""The capped points rule: amount, daily cap, monthly cap."""
VALUE = (2, 4)
"""The capped value rule (interaction): amount, daily cap."""
BUDGETED = (7, 21)
"""The budgeted points rule: amount, budget."""


@dataclass(frozen=True)
class Announced:
    """An event announced to rewards: its type, id, the post it is about and its time."""

    type: str
    id: str
    reference: str
    at: datetime


@dataclass
class Lot:
    expires_at: datetime
    remaining: int
    expired: int = 0


@dataclass
class Credit:
    currency: Currency
    amount: int
    debt_repaid: int
    lot: Lot | None
    reversed: bool = False


class Model:
    """What the ledger should hold: balances, lots oldest-expiring first, credits by source."""

    def __init__(self) -> None:
        self.points = self.debt = self.value = 0
        self.lots: list[Lot] = []
        self.credits: dict[str, list[Credit]] = {}
        self.usage: dict[tuple[str, str], int] = {}
        self.budget_used = 0

    def credit_points(self, amount: int, at: datetime, reference: str | None = None) -> None:
        repaid = min(self.debt, amount)
        self.debt -= repaid
        lot = Lot(ledger.expiry_of(at), amount - repaid) if amount > repaid else None
        if lot is not None:
            self.lots.append(lot)
            self.points += lot.remaining
        if reference is not None:
            self.credits.setdefault(reference, []).append(
                Credit(Currency.POINTS, amount, repaid, lot)
            )

    def credit_value(self, amount: int, reference: str) -> None:
        self.value += amount
        self.credits.setdefault(reference, []).append(Credit(Currency.VALUE, amount, 0, None))

    def within(self, rule: str, at: datetime, amount: int, caps: dict[str, int]) -> bool:
        periods = {"d": f"d:{at:%Y-%m-%d}", "m": f"m:{at:%Y-%m}"}
        keys = [(rule, periods[name]) for name in caps]
        if any(self.usage.get(key, 0) + amount > caps[key[1][0]] for key in keys):
            event("a cap refused a credit")
            return False
        for key in keys:
            self.usage[key] = self.usage.get(key, 0) + amount
        return True

    def take(self, amount: int, first: Lot | None = None) -> None:
        ordered = sorted(self.lots, key=lambda lot: lot.expires_at)  # stable: creation order
        if first is not None and first.remaining > 0:
            ordered.remove(first)
            ordered.insert(0, first)
        for lot in ordered:
            part = min(lot.remaining, amount)
            lot.remaining -= part
            amount -= part

    def spend(self, amount: int) -> bool:
        if self.points < amount:
            return False
        self.take(amount)
        self.points -= amount
        return True

    def reverse(self, reference: str) -> None:
        for credit in self.credits.get(reference, []):
            if credit.reversed:
                continue
            credit.reversed = True
            if credit.currency == Currency.VALUE:
                self.value -= credit.amount
                continue
            expired = credit.lot.expired if credit.lot else 0
            if expired:
                event("a reversal spared expired points")
            if expired == credit.amount:
                continue
            owed = credit.amount - credit.debt_repaid - expired
            taken = min(owed, self.points)
            self.take(taken, first=credit.lot)
            self.points -= taken
            self.debt += owed - taken + credit.debt_repaid
            if self.debt:
                event("a reversal left a debt")

    def expire(self, now: datetime) -> None:
        for lot in self.lots:
            if lot.expires_at <= now and lot.remaining:
                event("points expired")
                self.points -= lot.remaining
                lot.expired = lot.remaining
                lot.remaining = 0


class LedgerMachine(RuleBasedStateMachine):
    loop: ClassVar[asyncio.AbstractEventLoop]
    database: ClassVar[Database]

    sources = Bundle("sources")

    def __init__(self) -> None:
        super().__init__()
        self.user = uuid.uuid4()
        self.model = Model()
        self.clock = START
        self.capped_type = f"test.model{uuid.uuid4().hex}.capped.v1"
        self.budgeted_type = f"test.model{uuid.uuid4().hex}.budgeted.v1"
        self.run(self._create_rules())

    def run(self, step: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(step, self.loop).result()

    async def _create_rules(self) -> None:
        since = datetime(2019, 1, 1, tzinfo=UTC)
        capped = Rule(
            name="model capped",
            source_type=self.capped_type,
            role="author",
            currency=Currency.POINTS,
            amount=CAPPED[0],
            daily_cap=CAPPED[1],
            monthly_cap=CAPPED[2],
            starts_at=since,
        )
        value = Rule(
            name="model value",
            source_type=self.capped_type,
            role="author",
            currency=Currency.VALUE,
            dimension=Dimension.INTERACTION,
            amount=VALUE[0],
            daily_cap=VALUE[1],
            starts_at=since,
        )
        budgeted = Rule(
            name="model budgeted",
            source_type=self.budgeted_type,
            role="author",
            currency=Currency.POINTS,
            amount=BUDGETED[0],
            budget=BUDGETED[1],
            starts_at=since,
        )
        async with self.database.transaction() as session:
            session.add_all([capped, value, budgeted])
        self.capped_rule, self.value_rule = str(capped.id), str(value.id)

    def tick(self) -> datetime:
        """Every write happens at a later moment than the one before (lots then sort by
        expiry and creation as the ledger sorts them)."""
        self.clock += timedelta(seconds=1)
        return self.clock

    @rule(days=st.integers(0, 1200), hours=st.integers(0, 23))
    def wait(self, days: int, hours: int) -> None:
        self.clock = min(self.clock + timedelta(days=days, hours=hours), LAST)

    @rule(target=sources, budgeted=st.booleans())
    def earn(self, budgeted: bool) -> Announced:
        source = Announced(
            self.budgeted_type if budgeted else self.capped_type,
            str(uuid.uuid4()),
            str(uuid.uuid4()),
            self.tick(),
        )
        self.run(self._earn_in_db(source))
        if source.type == self.budgeted_type:
            if self.model.budget_used + BUDGETED[0] <= BUDGETED[1]:
                self.model.budget_used += BUDGETED[0]
                self.model.credit_points(BUDGETED[0], source.at, source.reference)
            else:
                event("the budget refused a credit")
            return source
        if self.model.within(
            self.capped_rule, source.at, CAPPED[0], {"d": CAPPED[1], "m": CAPPED[2]}
        ):
            self.model.credit_points(CAPPED[0], source.at, source.reference)
        if self.model.within(self.value_rule, source.at, VALUE[0], {"d": VALUE[1]}):
            self.model.credit_value(VALUE[0], source.reference)
        return source

    @rule(source=sources)
    def redeliver(self, source: Announced) -> None:
        """The same event again (same id, same time): it changes nothing, whether it was
        paid or refused by a cap or the budget."""
        self.run(self._earn_in_db(source))

    async def _earn_in_db(self, source: Announced) -> None:
        async with self.database.transaction() as session:
            await rules.earn(
                session=session,
                user_id=self.user,
                source_type=source.type,
                source_id=source.id,
                role="author",
                reference_type="post",
                reference_id=source.reference,
                at=source.at,
            )

    @rule(amount=st.integers(1, 12))
    def spend(self, amount: int) -> None:
        at = self.tick()
        refused = not self.model.spend(amount)
        assert self.run(self._spend_in_db(amount, at)) == refused

    @precondition(lambda self: self.model.points > 0)
    @rule()
    def spend_everything(self) -> None:
        """All that is spendable: what a later reversal takes back becomes debt."""
        self.spend(self.model.points)

    async def _spend_in_db(self, amount: int, at: datetime) -> bool:
        try:
            async with self.database.transaction() as session:
                await ledger.spend_points(
                    session=session,
                    user_id=self.user,
                    amount=amount,
                    source=Source(type="mall.order", id=str(uuid.uuid4())),
                    at=at,
                )
        except NotEnoughPoints:
            return True
        return False

    @rule(amount=st.integers(1, 30))
    def refund(self, amount: int) -> None:
        at = self.tick()
        self.model.credit_points(amount, at)
        self.run(self._refund_in_db(amount, at))

    async def _refund_in_db(self, amount: int, at: datetime) -> None:
        async with self.database.transaction() as session:
            await ledger.credit_points(
                session=session,
                user_id=self.user,
                amount=amount,
                source=Source(type="mall.order.cancelled", id=str(uuid.uuid4())),
                at=at,
                kind=EntryKind.REFUND,
            )

    @rule(source=sources)
    def reverse(self, source: Announced) -> None:
        at = self.tick()
        self.model.reverse(source.reference)
        self.run(self._reverse_in_db(source.reference, at))

    async def _reverse_in_db(self, reference: str, at: datetime) -> None:
        async with self.database.transaction() as session:
            await rules.reverse_reference(
                session=session,
                reference_type="post",
                reference_id=reference,
                source_type="test.post.removed.v1",
                source_id=str(uuid.uuid4()),
                at=at,
            )

    @rule()
    def expire(self) -> None:
        at = self.tick()
        self.model.expire(at)
        self.run(self._expire_in_db(at))

    async def _expire_in_db(self, at: datetime) -> None:
        async with self.database.transaction() as session:
            await jobs.expire_due(session=session, now=at, limit=100_000)

    @invariant()
    def balances_match_the_model(self) -> None:
        self.run(self._check())

    async def _check(self) -> None:
        found = await rows(
            self.database,
            "SELECT points, pending_points, debt, value_interaction FROM accounts"
            " WHERE user_id = :u",
            u=self.user,
        )
        balances = tuple(found[0]) if found else (0, 0, 0, 0)
        assert balances == (self.model.points, 0, self.model.debt, self.model.value)
        if found:
            await assert_ledger_adds_up(self.database, self.user)


async def test_the_ledger_matches_a_model_of_earning_spending_reversing_and_expiring(
    database: Database,
) -> None:
    LedgerMachine.loop = asyncio.get_running_loop()
    LedgerMachine.database = database
    await asyncio.to_thread(
        run_state_machine_as_test,
        LedgerMachine,
        settings=settings(
            max_examples=20,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
